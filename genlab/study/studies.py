"""Named studies as data: which models, latent sizes, datasets and epochs; and run profiles.

The seed study `lab` reproduces "Generative Models Foundations (GAN vs VAE)":
GAN z 32/64/128 and VAE z 8/16/32 on MNIST and Fashion-MNIST, 10 epochs each,
compared at matched capacity (low 32<->8, mid 64<->16, high 128<->32).
A new question becomes a new entry here, not a new code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from genlab import data
from genlab.core.errors import GenlabError, lookup
from genlab.train.config import FOLDER_DEFAULTS, RunConfig, make_config

SEED_ROLES = {"gan": "gan", "vae": "vae", "hybrid": "vaegan"}  # role in the seed study's questions -> arm


@dataclass(frozen=True)
class Study:
    name: str
    datasets: tuple[str, ...]
    arms: dict[str, tuple[int, ...]]  # arm name -> latent sizes, in capacity order (low, mid, high)
    capacity_names: tuple[str, ...]  # one label per position in each arm's latent sizes
    overrides: tuple[str, ...] = ()  # applied to every run before the profile, e.g. train.epochs=10
    description: str = ""
    fixed: tuple[str, ...] = ()  # applied after the profile: settings that define the study whatever the profile
    variants: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # arm -> (model, overrides);
    #   an arm not listed is the model of that name with its defaults
    factors: dict[str, tuple[str, str]] = field(default_factory=dict)  # arm -> (hyperparameter, its level here):
    #   a study of one-at-a-time changes around the role "gan" arm (sensitivity)
    roles: dict[str, str] = field(default_factory=lambda: dict(SEED_ROLES))  # the seed study's questions' roles
    #   (gan, vae, hybrid) -> the arm that plays it here; genlab.report.findings reads them, never arm names

    def model_of(self, arm: str) -> tuple[str, tuple[str, ...]]:
        """(model name, the arm's own overrides)."""
        return self.variants.get(arm, (arm, ()))


@dataclass(frozen=True)
class PlannedRun:
    name: str  # run folder name: dataset-arm-zZ-sSEED
    arm: str
    cfg: RunConfig


@dataclass(frozen=True)
class Profile:
    name: str
    overrides: tuple[str, ...]  # applied after the study's own
    description: str
    model_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model name -> overrides for its runs
    #   only (e.g. the GAN's generator at a short budget), applied with the profile's own


MNIST_TRAIN = 60_000  # training images behind the profiles' epoch counts
MNIST_D = ("model.d_arch=mlp", "model.augment=")  # the GAN's MNIST discriminator, also on a folder (FOLDER_DEFAULTS)
MLP_G = ("model.arch=mlp",)  # the GAN's MNIST generator, also on a folder (where FOLDER_DEFAULTS' is DCGAN's conv G)
CONV_D_DIFFAUG = ("model.d_arch=conv", "model.augment=color,translation,cutout")  # the folder default's D
GAN_BATCH = ("train.batch_size=32",)  # the GAN trains at batch 32: ~2x fewer epochs to the same FID than batch 64,
#   at a similar cost per image on one CPU thread (measured with the conv G; docs/results.md, 2026-11-25 GAN recipe)
BASELINE = (
    "model.arch=mlp",
    "model.d_arch=same",
    "model.width=256",
    "model.g_layers=2",
    "model.d_width=0",
    "model.ema_nimg=0",
    "model.lr=2e-4",
    "model.beta1=0.5",
    "model.r1_gamma=0",
    "train.batch_size=128",
)
#   the GAN of genlab 0.1 (MLP G with batch norm, MLP D, no average, no R1, Adam 2e-4 with beta1 0.5, batch 128)
RECIPE_ARMS: dict[str, tuple[str, ...]] = {  # arm -> overrides of the GAN defaults; each changes one piece
    "gan-baseline": BASELINE,
    "gan": GAN_BATCH,  # the default recipe: MLP G (192-384-768, batch norm), MLP D (512-256), EMA, lazy R1, Adam
    #   1e-3 (beta1 0), batch 32
    "gan-two-layer-g": (*GAN_BATCH, "model.g_layers=2", "model.width=384"),  # G 384-768: the default before
    #   2026-11-26 (a third layer)
    "gan-width256": (*GAN_BATCH, "model.g_layers=2", "model.width=256"),  # G 256-512: the default before
    #   2026-11-26 (late)
    "gan-no-ema": (*GAN_BATCH, "model.ema_nimg=0"),
    "gan-conv-g": (*GAN_BATCH, "model.arch=conv", "model.width=256"),  # the DCGAN-style conv G, the default
    #   before 2026-11-26 (night)
    "gan-width128": (*GAN_BATCH, "model.width=128"),
    "gan-conv-d": (*GAN_BATCH, "model.d_arch=conv", "model.d_sn=true"),
    "gan-sn": (*GAN_BATCH, "model.d_sn=true"),
    "gan-ttur": (*GAN_BATCH, "model.lr=1e-4", "model.lr_d=4e-4"),
    "gan-no-r1": (*GAN_BATCH, "model.r1_gamma=0"),
    "gan-dropout": (*GAN_BATCH, "model.d_dropout=0.3"),
    "gan-no-bn": (*GAN_BATCH, "model.g_norm=false"),
    "gan-batch64": ("train.batch_size=64",),
    "gan-lr2e-4": (*GAN_BATCH, "model.lr=2e-4"),  # DCGAN's Adam step (the default before 2026-11-26)
    "gan-lr5e-4": (*GAN_BATCH, "model.lr=5e-4"),
    "gan-beta1-0.5": (*GAN_BATCH, "model.beta1=0.5"),  # DCGAN's Adam beta1 (the default before 2026-11-26, later)
    "gan-lr-rampdown": (*GAN_BATCH, "train.lr_rampdown=0.3"),  # step sizes fall to 0 over the last 30 %
    "gan-ema10k": (*GAN_BATCH, "model.ema_nimg=10000", "model.ema_rampup=0.05"),  # StyleGAN2-ADA's average (the
    #   default before 2026-11-26, evening)
}

SENSITIVITY_ARMS: dict[str, tuple[str, str, tuple[str, ...]]] = {  # arm -> (factor, level, overrides of the
    #   default GAN); each moves one hyperparameter away from today's recipe (genlab.report.findings ranks them for Q1)
    "gan-lr-quarter": ("Adam step size", "x1/4 (2.5e-4)", ("model.lr=2.5e-4",)),
    "gan-lr-x4": ("Adam step size", "x4 (4e-3)", ("model.lr=4e-3",)),
    "gan-beta1-0.5": ("Adam beta1", "0.5 (DCGAN; default 0)", ("model.beta1=0.5",)),
    "gan-batch128": ("batch size", "128 (default 32)", ("train.batch_size=128",)),
    "gan-no-ema": ("weight average of G", "off (Karras et al. 2018; default on)", ("model.ema_nimg=0",)),
    "gan-no-r1": ("R1 penalty", "off (Mescheder et al. 2018; default gamma 1)", ("model.r1_gamma=0",)),
    "gan-r1-10": ("R1 penalty", "gamma 10", ("model.r1_gamma=10",)),
    "gan-g1": ("G depth", "1 hidden layer (quick 2, full 3)", ("model.g_layers=1",)),
    "gan-d64": ("D width", "64 (quick 128, full 256)", ("model.d_width=64",)),
    "gan-d512": ("D width", "512", ("model.d_width=512",)),
}
LARSEN = ("model.recon_target=features", "model.lr=3e-4", "model.beta1=0.5", "model.ema_nimg=60000")  # the VAE-GAN
#   before 2026-12-02: Larsen et al. 2016's reconstruction in D's layer-1 features (gamma 0.9), Adam 3e-4 / beta1 0.5,
#   the GAN's weight average
CONV_VAE = ("model.arch=conv", "model.width=256")  # conv encoder and decoder (32 channels x 2 at 14 and 7 pixels),
#   shared by the vae-conv and vaegan-conv arms so the pair stays matched
HYBRID_ARMS: dict[str, tuple[str, ...]] = {  # arm -> overrides of the VAE-GAN defaults; each changes one piece of
    #   the hybrid's recipe (issue 24, part 3), the earlier default kept as an arm so the gain stays re-measurable
    "vaegan": (),  # the default: its VAE (pixel ELBO, Adam 1e-3 / beta1 0.9) plus a GAN term (weight 10) and R1
    "vaegan-larsen": LARSEN,
    "vaegan-larsen-gamma0.5": (*LARSEN, "model.gamma=0.5"),  # more weight on the GAN term in the decoder
    "vaegan-larsen-layer2": (*LARSEN, "model.feature_layer=2"),  # reconstruction in D's second hidden layer
    "vaegan-larsen-adam": (*LARSEN[1:], "model.recon_target=pixels", "model.adv_weight=1"),  # pixels, with Larsen's
    #   Adam and average (GAN weight 1, as measured on 2026-12-02)
    "vaegan-ema": ("model.ema_nimg=60000",),  # the GAN's weight average
    "vaegan-adv1": ("model.adv_weight=1",),  # the GAN term's weight before 2026-12-06 (the default is 10)
    "vaegan-adv30": ("model.adv_weight=30",),
    "vaegan-adaptive": ("model.adv_adaptive=true", "model.adv_weight=1"),  # VQGAN's balance (Esser et al. 2021,
    #   eq. 7) at its own strength
    "vaegan-adaptive0.1": ("model.adv_adaptive=true", "model.adv_weight=0.1"),  # a tenth of it
    "vaegan-no-gan": ("model.adv_weight=0",),  # no GAN term: the hybrid reduced to its VAE (a fairness check)
    "vaegan-conv": CONV_VAE,  # conv encoder, decoder and D (Larsen et al.'s own networks are conv)
}
SENSITIVITY_Z = {"gan-z32": 32, "gan-z128": 128}  # the latent size, the seed study's own factor, as arms too

STUDIES: dict[str, Study] = {
    "lab": Study(
        name="lab",
        datasets=("mnist", "fashion-mnist"),
        arms={"gan": (32, 64, 128), "vae": (8, 16, 32), "vaegan": (8, 16, 32)},
        capacity_names=("low", "mid", "high"),
        overrides=("train.epochs=10",),
        variants={"gan": ("gan", GAN_BATCH)},
        description="GAN z 32/64/128 vs VAE z 8/16/32 (and the VAE-GAN hybrid the study proposes, z 8/16/32) on "
        "MNIST and Fashion-MNIST, 10 epochs each",
    ),
    "recipes": Study(
        name="recipes",
        datasets=("mnist", "fashion-mnist"),
        arms={arm: (64,) for arm in RECIPE_ARMS} | {"vae": (16,)},
        capacity_names=("mid",),
        overrides=("train.epochs=10",),
        variants={arm: ("gan", ov) for arm, ov in RECIPE_ARMS.items()},
        description="the GAN recipe ablation at z 64 (each piece off and on around the default) and the VAE at z 16 "
        "(every sampler: prior, GMM, latent flow), MNIST and Fashion-MNIST, 10 epochs",
    ),
    "sensitivity": Study(
        name="sensitivity",
        datasets=("mnist", "fashion-mnist"),
        arms={"gan": (64,)}
        | {arm: (64,) for arm in SENSITIVITY_ARMS}
        | {arm: (z,) for arm, z in SENSITIVITY_Z.items()},
        capacity_names=("mid",),
        fixed=("train.epochs=1",),  # one pass over the 60,000 images: 13 arms x 3 seeds x 2 datasets in about
        #   20 minutes on 2 cores with the quick profile (docs/results.md)
        variants={"gan": ("gan", GAN_BATCH)}
        | {arm: ("gan", (*GAN_BATCH, *ov)) for arm, (_, _, ov) in SENSITIVITY_ARMS.items()}
        | {arm: ("gan", GAN_BATCH) for arm in SENSITIVITY_Z},
        factors={arm: (f, lv) for arm, (f, lv, _) in SENSITIVITY_ARMS.items()}
        | {arm: ("latent size z", f"{z} (default 64)") for arm, z in SENSITIVITY_Z.items()},
        description="each GAN hyperparameter moved one at a time around the default (step size, beta1, batch, "
        "weight average, R1, G depth, D width, z), one epoch, MNIST and Fashion-MNIST: what answers Q1",
    ),
    "families": Study(
        name="families",
        datasets=("mnist", "fashion-mnist"),
        arms={"gan": (64,), "vae": (16,), "vaegan": (16,), "flow": (784,)},
        capacity_names=("mid",),
        overrides=("train.epochs=10",),
        variants={"gan": ("gan", GAN_BATCH)},
        description="the families side by side at the lab's middle capacity: GAN z 64, VAE and VAE-GAN z 16 (every "
        "sampler: prior, GMM, latent flow), and pixel-space flow matching, MNIST and Fashion-MNIST, 10 epochs, "
        "with each run's training compute",
    ),
    "collapse": Study(
        name="collapse",
        datasets=("stacked-mnist",),
        arms={"gan": (64,), "vae": (16,), "vaegan": (16,), "flow": (2352,)},
        capacity_names=("mid",),
        overrides=("train.epochs=10",),
        variants={"gan": ("gan", GAN_BATCH)},
        description="the 1,000-mode collapse benchmark: Stacked MNIST (three MNIST digits as the channels of one "
        "image; VEEGAN, PacGAN), GAN z 64, VAE and VAE-GAN z 16 with every sampler, and pixel-space flow "
        "matching, 10 epochs; modes covered of 1,000 and KL to uniform over 26,000 samples: what answers Q2",
    ),
    "small-folder": Study(
        name="small-folder",
        datasets=("mnist",),
        arms={
            arm: (32,)
            for arm in (
                "gan",
                "gan-diffaug",
                "gan-diffaug-tc",
                "gan-convd",
                "gan-convd-diffaug",
                "gan-convd-diffaug-mbstd",
                "gan-convg-convd-diffaug",
            )
        },
        capacity_names=("low",),
        variants={
            "gan": ("gan", (*GAN_BATCH, *MLP_G, *MNIST_D)),
            "gan-diffaug": ("gan", (*GAN_BATCH, *MLP_G, *MNIST_D, "model.augment=color,translation,cutout")),
            "gan-diffaug-tc": ("gan", (*GAN_BATCH, *MLP_G, *MNIST_D, "model.augment=translation,cutout")),
            "gan-convd": ("gan", (*GAN_BATCH, *MLP_G, "model.d_arch=conv", "model.augment=")),
            "gan-convd-diffaug": ("gan", (*GAN_BATCH, *MLP_G, *CONV_D_DIFFAUG)),
            # + ProGAN's minibatch standard deviation in D (Karras et al. 2018)
            "gan-convd-diffaug-mbstd": ("gan", (*GAN_BATCH, *MLP_G, *CONV_D_DIFFAUG, "model.d_mbstd=4")),
            # + DCGAN's conv G (Radford et al. 2016): the folder default itself, since 2026-12-05
            "gan-convg-convd-diffaug": ("gan", (*GAN_BATCH, *FOLDER_DEFAULTS["gan"])),
        },
        description="the GAN on a small image folder with and without differentiable augmentation (Zhao et al. "
        "2020: color, translation, cutout; and translation, cutout alone), with the MLP D and with a conv D (the "
        "paper's setting), with ProGAN's minibatch standard deviation, and with DCGAN's conv G (the folder "
        "default), z 32; meant for --dataset folder:PATH (e.g. the 1,250-image shapes demo), where the MNIST "
        "recipe's D memorises the training set",
    ),
    "hybrid": Study(
        name="hybrid",
        datasets=("mnist", "fashion-mnist"),
        arms={"vae": (16,), "vae-conv": (16,)} | {arm: (16,) for arm in HYBRID_ARMS},
        capacity_names=("mid",),
        overrides=("train.epochs=10",),
        variants={arm: ("vaegan", ov) for arm, ov in HYBRID_ARMS.items()} | {"vae-conv": ("vae", CONV_VAE)},
        description="the VAE-GAN's recipe ablation at z 16 beside its VAE (each piece changed one at a time: "
        "Larsen et al.'s feature reconstruction and its weights, the step size and weight average, the GAN term's "
        "weight, the GAN term off, conv networks for both), MNIST and Fashion-MNIST, 10 epochs: what answers Q4 fairly",
    ),
    "smoke": Study(
        name="smoke",
        datasets=("mnist",),
        arms={"gan": (2, 4), "vae": (2, 4)},
        capacity_names=("low", "high"),
        variants={"gan": ("gan", ("model.d_width=32",))},
        fixed=(
            "train.epochs=1",
            "data.n_train=1024",
            "model.width=32",
            "train.batch_size=64",
            "eval.n_samples=200",
            "eval.epoch_fid_samples=200",
            "eval.kid_subsets=5",
            "eval.kid_subset_size=100",
            "eval.iw_samples=5",
            "eval.iw_images=50",
            "eval.bootstrap=10",
            "eval.flow_steps=100",
        ),
        description="a seconds-long check of an installation: tiny models, one epoch, MNIST only",
    ),
}

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick",
        (
            "train.epochs=2",
            "eval.n_samples=2000",
            "eval.epoch_fid_samples=1000",
            "eval.kid_subsets=20",
            "eval.kid_subset_size=500",
            "eval.iw_samples=20",
            "eval.iw_images=200",
            "eval.bootstrap=50",
            "eval.memo_samples=500",
            "eval.gmm_codes=20000",
            "eval.flow_steps=3000",
        ),
        "2 epochs on all 60,000 images (the GAN: 3,750 steps at batch 32, enough for it to draw digits, "
        "with a narrower generator and discriminator), 2,000-sample metrics, the VAE's mixture fitted on "
        "20,000 codes: minutes on a laptop CPU",
        {"gan": ("model.g_layers=2", "model.width=256", "model.d_width=128")},
    ),  # the 12-run quick
    #   study in 157.6 s (conv G: 266.0 s; the default G 384: GAN runs 1.5x longer, no better), MNIST GAN
    #   recognisable 0.761 / 0.754 / 0.729 (conv G 0.753 / 0.752 / 0.712), FID 114.6 / 120.5 / 125.0 (conv G 86.8 /
    #   86.2 / 97.5); the mixture on 20,000 codes: 3-5 s instead of 22-27 s at z 32, FID within the spread of the fit
    #   (docs/results.md, 2026-11-26 late)
    "full": Profile("full", (), "the study as specified: 10 epochs on all 60,000 images, 10,000-sample metrics"),
}


def get_study(name: str) -> Study:
    return lookup(STUDIES, name, "study")


def select_models(study: Study, models: list[str] | None, datasets: list[str] | None = None) -> Study:
    """The study restricted to some of its arms (e.g. the original 12-run GAN-vs-VAE study: gan,vae) and
    datasets (e.g. mnist)."""
    if models:
        for m in models:
            lookup(study.arms, m, f"model of study '{study.name}'")
        study = replace(study, arms={m: zs for m, zs in study.arms.items() if m in models})
    if datasets:
        for d in datasets:
            lookup(dict.fromkeys(study.datasets), d, f"dataset of study '{study.name}'")
        study = replace(study, datasets=tuple(d for d in study.datasets if d in datasets))
    return study


def on_dataset(study: Study, dataset: str) -> Study:
    """The study's models and latent sizes on another dataset (e.g. folder:PATH, the user's own images)."""
    return replace(
        study, datasets=(dataset,), description=f"{study.description}; run here on {dataset} instead (--dataset)"
    )


def get_profile(name: str) -> Profile:
    return lookup(PROFILES, name, "profile")


def expand(study: Study, profile: Profile, seeds: int, overrides: list[str] | None = None) -> list[PlannedRun]:
    """Every run of the study: dataset x arm x latent size x seed, with all overrides applied (the study's, the
    profile's, the study's fixed ones, the arm's own, then the user's)."""
    if not isinstance(seeds, int) or seeds < 1 or seeds > 100:
        raise GenlabError(f"--seeds {seeds!r} must be a whole number from 1 to 100")
    runs = []
    for dataset in study.datasets:
        for arm, z_dims in study.arms.items():
            model_name, own = study.model_of(arm)
            mine = scoped(overrides or [], model_name, study)
            for z in z_dims:
                for seed in range(seeds):
                    head = [
                        *study.overrides,
                        *profile.overrides,
                        *profile.model_overrides.get(model_name, ()),
                        *study.fixed,
                        *own,
                    ]
                    tail = [*mine, f"model.z_dim={z}", f"train.seed={seed}"]  # the user's word and the run's own
                    if data.is_folder(dataset) and not any(
                        o.lstrip("-").startswith("train.epochs=") for o in (*study.fixed, *own, *mine)
                    ):
                        head.append(folder_epochs(make_config(model_name, dataset, head + tail)))
                    ov = head + tail
                    runs.append(
                        PlannedRun(
                            f"{data.slug(dataset)}-{arm}-z{z}-s{seed}", arm, make_config(model_name, dataset, ov)
                        )
                    )
    return runs


def folder_epochs(cfg: RunConfig) -> str:
    """The profile's epochs are MNIST epochs (60,000 images): on an image folder the run takes as many optimizer
    steps as it would on MNIST, so a small folder is not trained for a few dozen steps (capped at 10,000 epochs).
    An explicit --train.epochs (or a study that fixes its epochs, like smoke) wins."""
    n = cfg.data.n_train or data.source_of(cfg.data).load("train")[0].shape[0]
    return f"train.epochs={max(1, min(10_000, round(cfg.train.epochs * MNIST_TRAIN / max(1, n))))}"


def scoped(overrides: list[str], model_name: str, study: Study) -> list[str]:
    """Overrides for one model: `gan.lr=1e-4` reaches only the GAN (as model.lr); others reach all."""
    models = {study.model_of(arm)[0] for arm in study.arms}
    out = []
    for item in overrides:
        item = item[2:] if item.startswith("--") else item
        head, dot, rest = item.partition(".")
        if dot and head in models:
            if head == model_name:
                out.append(f"model.{rest}")
        else:
            out.append(item)
    return out
