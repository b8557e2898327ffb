"""Model registry: name -> class. Each class carries its Config dataclass."""

from genlab.core.errors import lookup
from genlab.models.base import GenerativeModel
from genlab.models.flow import Flow
from genlab.models.gan import GAN
from genlab.models.vae import VAE
from genlab.models.vaegan import VAEGAN

MODELS: dict[str, type[GenerativeModel]] = {"gan": GAN, "vae": VAE, "vaegan": VAEGAN, "flow": Flow}


def build_model(name: str, cfg, shape: tuple[int, int, int] = (1, 28, 28)) -> GenerativeModel:
    """The model for images of `shape` (C, H, W): the data source's (genlab.data.source_of(cfg.data).shape)."""
    return lookup(MODELS, name, "model")(cfg, shape)
