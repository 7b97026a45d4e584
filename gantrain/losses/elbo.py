"""The VAE's objective: the negative evidence lower bound, reconstruction + beta * KL (Kingma & Welling
2014; beta > 1: the beta-VAE of Higgins et al. 2017). Encoder and decoder descend it together."""

import torch
from torch import nn

from gantrain.errors import ConfigError
from gantrain.losses.base import Batch, LossTerms, Objective
from gantrain.losses.functional import bernoulli_nll, gaussian_kl
from gantrain.priors import Latent


class ELBO(Objective):
    """-ELBO(x) = E_q(z|x)[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), one z per image
    (the reparameterisation z = mu + sigma * eps), averaged over the batch; in nats per image."""

    joint = True  # one step updates encoder (D's slot) and decoder (G) together; no discriminator steps

    def __init__(self, beta: float = 1.0) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ConfigError(f"model.beta must be a number >= 0, the weight of the KL term (got {beta!r})")
        self.beta = float(beta)

    def check(self, G: nn.Module, D: nn.Module, data: object) -> None:
        super().check(G, D, data)
        if not hasattr(G, "logits") or not hasattr(D, "logvar"):
            raise ConfigError("the ELBO trains a VAE: use model=vae (an encoder and a decoder), not a GAN's networks")

    def discriminator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent) -> LossTerms:
        raise RuntimeError("a VAE has no discriminator step: the trainer takes one joint step (joint = True)")

    def generator_step(self, G: nn.Module, D: nn.Module, batch: Batch, latent: Latent | None) -> LossTerms:
        mu, logvar = D(batch.x)  # (B, z_dim) each
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the reparameterisation trick
        reconstruction = bernoulli_nll(G.logits(z), batch.x.add(1).div(2)).mean()  # x on [0, 1]: Bernoulli targets
        kl = gaussian_kl(mu, logvar).mean()
        loss = reconstruction + self.beta * kl
        return LossTerms(loss, {"loss/g": loss.detach(), "loss/reconstruction": reconstruction.detach(), "loss/kl": kl.detach()})
