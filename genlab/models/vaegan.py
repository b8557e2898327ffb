"""VAE/GAN (Larsen, Sonderby, Larochelle & Winther, ICML 2016, "Autoencoding beyond pixels using a
learned similarity metric"): the VAE's encoder and smooth latent space, with the decoder trained as a
GAN generator and reconstruction measured in a discriminator feature layer instead of pixels.

Networks: encoder q(z|x) and decoder as in genlab's VAE (same `arch`/`width`), discriminator an MLP
(or conv) whose hidden layer l gives the features Dis_l. Losses per image (paper eq. 9-11):
  L_prior = KL(q(z|x) || N(0, I))
  L_llike = -log N(Dis_l(x); Dis_l(x_tilde), I)  (up to a constant: 0.5 * squared feature error)
  L_GAN   = log Dis(x) + log(1 - Dis(x_tilde)) + log(1 - Dis(x_p)),  x_tilde = Dec(z ~ q), x_p = Dec(z ~ p)
Updates (paper Algorithm 1): encoder on L_prior + L_llike; decoder on gamma * L_llike - (1 - gamma) * L_GAN
(non-saturating form, as in the authors' code); discriminator on -L_GAN. The authors' code weighs D's
real and generated terms 0.5 / 0.5 (`real_vs_gen_weight`); so does this one. `recon_target="pixels"` keeps the
VAE's pixel likelihood as the reconstruction instead (encoder on the ELBO, decoder on its likelihood term plus
`adv_weight` x the GAN term), so the hybrid is the VAE plus an adversarial loss on its decoder.

Two pieces of genlab's GAN recipe are on here too (`genlab.models.gan`, papers at their config lines): a
weight average of the encoder and decoder that every sample, reconstruction, figure and metric comes from
(`ema_nimg`), and a lazy R1 penalty on the discriminator's real images (`r1_gamma`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.core.bounds import bounded
from genlab.models.gan import ema_beta, ema_update, lazy_r1_weight, r1_penalty
from genlab.models.nn import MNIST_SHAPE, adam, bottom, numel
from genlab.models.vae import VAE, kl_to_standard_normal, reparameterize


def llike_feature_error(feat_real: torch.Tensor, feat_recon: torch.Tensor) -> torch.Tensor:
    """L_llike: Gaussian NLL of Dis_l(x) around Dis_l(x_tilde), unit variance, constant dropped (Larsen et al.
    2016, eq. 8); per image, (B,)."""
    return 0.5 * (feat_real - feat_recon).pow(2).flatten(1).sum(1)


def dis_loss(real_logits, recon_logits, prior_logits) -> torch.Tensor:
    """-L_GAN for the discriminator, real vs generated weighted 0.5 / 0.5 (Larsen et al. 2016, eq. 10)."""
    bce = F.binary_cross_entropy_with_logits
    real = bce(real_logits, torch.ones_like(real_logits))
    fake = 0.5 * (bce(recon_logits, torch.zeros_like(recon_logits)) + bce(prior_logits, torch.zeros_like(prior_logits)))
    return real + fake


def dec_gan_loss(recon_logits, prior_logits) -> torch.Tensor:
    """The decoder's GAN term, non-saturating: -log Dis(x_tilde) - log Dis(x_p) (Goodfellow et al. 2014, sec. 3)."""
    bce = F.binary_cross_entropy_with_logits
    return 0.5 * (bce(recon_logits, torch.ones_like(recon_logits)) + bce(prior_logits, torch.ones_like(prior_logits)))


class Discriminator(nn.Module):
    """x -> (logit, features of layer l): MLP 784-2w-w-1 (C x H x W inputs) or a small conv net; l = 1 or 2."""

    def __init__(self, arch: str, width: int, layer: int, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__()
        if arch == "mlp":
            self.lower = nn.Sequential(nn.Flatten(), nn.Linear(numel(shape), 2 * width), nn.LeakyReLU(0.2))
            self.upper = nn.Sequential(nn.Linear(2 * width, width), nn.LeakyReLU(0.2))
            self.head = nn.Linear(width, 1)
        else:
            c = max(width // 8, 4)
            s = bottom(shape)
            self.lower = nn.Sequential(nn.Conv2d(shape[0], c, 4, 2, 1), nn.LeakyReLU(0.2))
            self.upper = nn.Sequential(nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
            self.head = nn.Linear(2 * c * s * s, 1)
        self.layer = layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.lower(x)
        high = self.upper(low)
        return self.head(high).squeeze(1), (low if self.layer == 1 else high)


@dataclass(frozen=True)
class VAEGANConfig:
    ABSENT_MEANS = {"ema_nimg": 0, "r1_gamma": 0.0, "recon_target": "features"}  # a config.json written before these
    #   existed trained without them (and reconstructed in D's features)
    z_dim: int = bounded(16, 1, 4096)  # latent size
    arch: Literal["mlp", "conv"] = "mlp"  # network family for encoder, decoder and discriminator
    width: int = bounded(512, 4, 8192)  # encoder/decoder as the VAE's; discriminator hidden w/2 (layer l) and w
    gamma: float = bounded(0.9, 0.0, 1.0)  # decoder weight of L_llike vs the GAN term. Paper/authors' code: 1e-6
    #   on CelebA with a 16k-feature conv layer; with this MLP's 512 features 0.9 was best measured (docs/results.md)
    recon_target: Literal["features", "pixels"] = "pixels"  # what reconstruction is measured in: D's layer-l
    #   features (Larsen et al. 2016: encoder on KL + L_llike, decoder on gamma L_llike - (1 - gamma) L_GAN), or the
    #   VAE's own pixel likelihood (encoder on the ELBO, decoder on it plus adv_weight x the GAN term: the pixel
    #   reconstruction + adversarial loss of later autoencoders, e.g. Esser et al. 2021's VQGAN). With the VAE's
    #   Adam (below) pixels took the quick-profile z16 hybrid from FID 418 / 228 (prior, MNIST / Fashion-MNIST) and
    #   456 / 177 (GMM) to 268 / 129 and 92 / 70, level with or under its VAE's 279 / 137 and 104 / 73; feature
    #   reconstruction's decoded training codes were 2.7-5.3x its VAE's FID (docs/results.md, 2026-12-02, hybrid)
    adv_weight: float = bounded(10.0, 0.0, 1e6)  # recon_target=pixels: weight of the decoder's GAN term beside the
    #   pixel negative log-likelihood (nats per image; ~80 on MNIST, so weight 1 was ~1 % of the decoder's loss); with
    #   adv_adaptive, a factor on the adaptive weight. Chosen by the full-profile hybrid study, z 16, 3 seeds
    #   (docs/results.md, 2026-12-06): against its VAE, paired by seed, prior-sampled FID -17.6 / -48.5 / -43 (seed 0)
    #   on MNIST at weight 1 / 10 / 30, GMM- and flow-sampled level at each; sharper by +0.03 / +0.12 / +0.14
    adv_adaptive: bool = False  # recon_target=pixels: scale the GAN term by ||grad NLL|| / ||grad L_GAN|| at the
    #   decoder's last layer (Esser, Rombach & Ommer, CVPR 2021, VQGAN, eq. 7), so the two pull on the output layer
    #   equally whatever their units; a fixed weight 1 is ~1 % of a ~60-nat NLL's pull
    feature_layer: Literal[1, 2] = 1  # the discriminator layer l whose features measure reconstruction
    recon: Literal["bernoulli"] = "bernoulli"  # pixel model for the ELBO/IWAE metrics only (training uses Dis_l)
    lr: float = bounded(1e-3, 1e-7, 1.0)  # Adam step size, all three networks: the VAE's, so the hybrid differs from
    #   its VAE by the GAN term only (paper: RMSProp 3e-4, the default before 2026-12-02)
    beta1: float = bounded(0.9, 0.0, 0.999)  # Adam beta1: the VAE's (0.5 before 2026-12-02)
    beta2: float = bounded(0.999, 0.0, 0.99999)  # Adam beta2
    ema_nimg: int = bounded(0, 0, 10**9)  # half-life in images of a weight average of encoder and decoder
    #   (as the GAN's, Yazici et al. 2019); 0 = none, as the VAE (60,000 before 2026-12-02). With pixel
    #   reconstruction at Adam 1e-3 it moved the quick FID by <= 8 points either way (1 seed); with Larsen et al.'s
    #   feature reconstruction and r1_gamma 1 it took the MNIST quick-profile FID from 861 / 1,008 / 715 to 327 / 405
    #   / 434 and the full profile's from 637 / 853 / 751 to 142 / 193 / 212 (docs/results.md, 2026-11-26 late)
    ema_rampup: float = bounded(0.1, 0.0, 1.0)  # half-life <= this x images seen (StyleGAN2-ADA's ramp)
    r1_gamma: float = bounded(1.0, 0.0, 1e4)  # R1 on the discriminator's real images (Mescheder et al. 2018); 0 = off.
    #   The GAN's Adam (1e-3, beta1 0) on top made it worse (quick FID 402 / 544 / 982)
    r1_every: int = bounded(16, 1, 10**6)  # lazy R1: every N steps, scaled by N (StyleGAN2)


class VAEGAN(VAE):
    """A VAE (encode, decode, nll, sample inherited) whose decoder is also a GAN generator."""

    Config = VAEGANConfig
    family = "vaegan"
    label = "VAE-GAN"
    curve_panels = (("loss_dis", "loss_dec", "loss_enc"), ("llike", "kl", "recon"))  # recon: recon_target=pixels
    curve_ylabels = ("loss", "nats/image")
    generator_loss = "loss_dec"

    def __init__(self, cfg: VAEGANConfig, shape: tuple[int, int, int] = MNIST_SHAPE):
        super().__init__(cfg, shape)
        self.discriminator = Discriminator(cfg.arch, cfg.width // 2, cfg.feature_layer, self.shape)
        if cfg.ema_nimg:
            self.encoder_ema = copy.deepcopy(self.encoder).requires_grad_(False)
            self.decoder_ema = copy.deepcopy(self.decoder).requires_grad_(False)
            self.register_buffer("images_seen", torch.zeros((), dtype=torch.float64))  # drives the average's ramp

    def averaged(self) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder) every sample, reconstruction and metric comes from: the weight average when there is
        one, else the trained networks. They have no batch norm (`build_autoencoder`), so unlike the GAN's average
        there are no statistics to re-estimate."""
        if not self.cfg.ema_nimg:
            return self.encoder, self.decoder
        return self.encoder_ema, self.decoder_ema

    def encode(self, x):
        return self.averaged()[0](x).chunk(2, dim=1)

    def decode_logits(self, z):
        return self.averaged()[1](z)

    def decode(self, z):
        return torch.tanh(self.decode_logits(z) / 2)  # the Bernoulli mean in [-1, 1], as VAE.decode

    def make_optimizers(self):
        betas = (self.cfg.beta1, self.cfg.beta2)
        return {
            "enc": adam(self.encoder.parameters(), self.cfg.lr, betas),
            "dec": adam(self.decoder.parameters(), self.cfg.lr, betas),
            "dis": adam(self.discriminator.parameters(), self.cfg.lr, betas),
        }

    def adaptive_weight(self, nll: torch.Tensor, loss_gan: torch.Tensor) -> torch.Tensor:
        """VQGAN's balance (Esser et al. 2021, eq. 7): ||grad of the reconstruction|| / (||grad of the GAN term|| +
        1e-4) at the decoder's last weight, clipped to [0, 1e4] and detached, so that the GAN term pulls on the output
        layer as hard as the reconstruction does."""
        last = [p for p in self.decoder.parameters() if p.dim() > 1][-1]
        g_rec = torch.autograd.grad(nll, last, retain_graph=True)[0]
        g_gan = torch.autograd.grad(loss_gan, last, retain_graph=True)[0]
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0.0, 1e4).detach()

    def train_step(self, x, opt):
        b = x.shape[0]
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # the trained networks, not their average
        logits_tilde = self.decoder(reparameterize(mu, logvar))
        x_tilde = torch.tanh(logits_tilde / 2)
        x_p = torch.tanh(self.decoder(torch.randn(b, self.cfg.z_dim, dtype=x.dtype, device=x.device)) / 2)
        kl = kl_to_standard_normal(mu, logvar).sum(1).mean()

        # discriminator: maximise L_GAN on detached fakes
        logits, _ = self.discriminator(torch.cat([x, x_tilde.detach(), x_p.detach()]))
        loss_dis = dis_loss(logits[:b], logits[b : 2 * b], logits[2 * b :])
        r1 = lazy_r1_weight(opt["dis"], self.cfg.r1_gamma, self.cfg.r1_every)
        if r1:
            loss_dis = loss_dis + r1 * r1_penalty(lambda v: self.discriminator(v)[0], x)

        # encoder and decoder see the discriminator as it was before this step's update
        _, feat_real = self.discriminator(x)
        logits_g, feats_g = self.discriminator(torch.cat([x_tilde, x_p]))
        llike = llike_feature_error(feat_real.detach(), feats_g[:b]).mean()
        loss_gan_dec = dec_gan_loss(logits_g[:b], logits_g[b:])
        out = {}
        if self.cfg.recon_target == "pixels":  # the VAE's ELBO for the encoder; ELBO's likelihood + GAN for the decoder
            nll = self.nll(logits_tilde, x).mean()
            loss_enc = kl + nll
            weight = self.cfg.adv_weight
            if self.cfg.adv_adaptive:
                weight = weight * self.adaptive_weight(nll, loss_gan_dec)
                out["adv_weight"] = weight  # logged: how hard the balance leans on the GAN term over training
            loss_dec = nll + weight * loss_gan_dec
            out["recon"] = nll.detach()
        else:  # Larsen et al. 2016, Algorithm 1
            loss_enc = kl + llike
            loss_dec = self.cfg.gamma * llike + (1 - self.cfg.gamma) * loss_gan_dec

        for o in opt.values():
            o.zero_grad(set_to_none=True)
        # each loss only reaches its own network's parameters (Algorithm 1): separate autograd calls
        enc_params = list(self.encoder.parameters())
        dec_params = list(self.decoder.parameters())
        dis_params = list(self.discriminator.parameters())
        g_enc = torch.autograd.grad(loss_enc, enc_params, retain_graph=True)
        g_dec = torch.autograd.grad(loss_dec, dec_params, retain_graph=True)
        g_dis = torch.autograd.grad(loss_dis, dis_params)
        for params, grads in ((enc_params, g_enc), (dec_params, g_dec), (dis_params, g_dis)):
            for p, g in zip(params, grads):
                p.grad = g
        for o in opt.values():
            o.step()
        if self.cfg.ema_nimg:
            self.images_seen += b
            beta = ema_beta(b, float(self.images_seen), self.cfg.ema_nimg, self.cfg.ema_rampup)
            ema_update(self.encoder_ema, self.encoder, beta)
            ema_update(self.decoder_ema, self.decoder, beta)
        return {
            "loss_enc": loss_enc.detach(),
            "loss_dec": loss_dec.detach(),
            "loss_dis": loss_dis.detach(),
            "llike": llike.detach(),
            "kl": kl.detach(),
            "d_real": torch.sigmoid(logits[:b]).mean().detach(),
            "d_fake": torch.sigmoid(logits[b:]).mean().detach(),
            **out,
        }
