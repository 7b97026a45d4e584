"""The VAE's objective: the negative evidence lower bound, reconstruction + beta * KL (Kingma & Welling
2014; beta > 1: the beta-VAE of Higgins et al. 2017). Encoder and decoder descend it together, in one
phase: a VAE has no adversary."""

import torch

from gantrain.core.errors import ConfigError
from gantrain.core.objective import Batch, LossTerms, Networks, Phase
from gantrain.core.priors import Latent
from gantrain.losses.base import SampledObjective
from gantrain.losses.functional import bernoulli_nll, gaussian_kl


class ELBO(SampledObjective):
    """-ELBO(x) = E_q(z|x)[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), one z per image
    (the reparameterisation z = mu + sigma * eps), averaged over the batch; in nats per image."""

    networks = ("encoder", "decoder")
    judges = ()
    generator = "decoder"  # p(x|z): samples, grids and task=eval draw from the prior through it
    trains_what = "the ELBO trains a VAE, an encoder and a decoder"
    metrics = ("loss/g", "loss/reconstruction", "loss/kl")

    def __init__(self, beta: float = 1.0) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
            raise ConfigError(f"model.beta must be a number >= 0, the weight of the KL term (got {beta!r})")
        self.beta = float(beta)

    def phases(self, k: int) -> list[Phase]:
        # the encoder's z comes from the data, not from the prior: no z is drawn for the step
        return [Phase("elbo", ("encoder", "decoder"), self._elbo_phase, latent=False)]

    def check(self, nets: Networks, data: object, k: int = 1) -> None:
        super().check(nets, data, k)
        if k != 1:
            raise ConfigError(f"train.k={k}: a VAE has no discriminator to step k times; leave train.k=1")

    def _elbo_phase(self, nets: Networks, batch: Batch, latent: Latent | None) -> LossTerms:
        return self.loss(nets["encoder"], nets["decoder"], batch)

    def loss(self, encoder: torch.nn.Module, decoder: torch.nn.Module, batch: Batch) -> LossTerms:
        mu, logvar = encoder(batch.x)  # (B, z_dim) each
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # the reparameterisation trick
        # through the decoder's forward, so that data-parallel training averages its gradients
        logits = decoder(z, logits=True)  # (B, C, S, S)
        reconstruction = bernoulli_nll(logits, batch.x.add(1).div(2)).mean()  # x on [0, 1]: Bernoulli targets
        kl = gaussian_kl(mu, logvar).mean()
        loss = reconstruction + self.beta * kl
        return LossTerms(loss, {"loss/g": loss.detach(), "loss/reconstruction": reconstruction.detach(), "loss/kl": kl.detach()})
