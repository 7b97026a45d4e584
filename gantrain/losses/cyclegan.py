"""CycleGAN: Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (ICCV 2017), eqs. 1-3 and section 4 (the identity loss of section 5.2).

Two translators G_ab: A -> B and G_ba: B -> A, two discriminators D_b (is this a real B?) and D_a:

    L_G = gan_weight * [c_G(D_b(G_ab(a))) + c_G(D_a(G_ba(b)))]                       adversarial (eq. 1)
        + lambda_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)              cycle (eq. 2)
        + lambda_cycle * lambda_identity * (|G_ba(a) - a|_1 + |G_ab(b) - b|_1)        identity (5.2)
    L_D = 1/2 c_D(D_b(b), D_b(pool_b(G_ab(a)))) + 1/2 c_D(D_a(a), D_a(pool_a(G_ba(b))))

c is the criterion (least squares by default, as the paper's section 4; loss/criterion=non_saturating
gives the logistic game). One step: the generators' phase (both generators, one optimiser), then the
discriminators' phase on the fakes that step made, each drawn through a history of 50 earlier fakes
(Shrivastava et al. 2017; gantrain/losses/image_pool.py), whose contents are part of the checkpoint.
`forward_cycle=false` drops the A -> B -> A term, `backward_cycle=false` the B -> A -> B one, and
`gan_weight=0` trains on the cycle alone: the paper's ablations (table 4).
"""

from typing import Any

import torch
from torch import Tensor

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError
from gantrain.core.objective import Batch, LossTerms, Networks, Phase, Resources
from gantrain.losses.base import JudgedObjective
from gantrain.losses.criteria import Criterion, LeastSquares
from gantrain.losses.functional import l1_loss
from gantrain.losses.image_pool import ImagePool
from gantrain.models.layers import non_negative


class CycleGAN(JudgedObjective):
    networks = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
    judges = (("discriminator_a", "A"), ("discriminator_b", "B"))
    generator = None  # translators, no latent space
    trains_what = "CycleGAN's loss trains two generators and two discriminators"
    trains_on = "domains"
    metrics = ("loss/g", "loss/cycle_a", "loss/cycle_b", "loss/d_a", "loss/d_b")

    def __init__(
        self,
        criterion: Criterion | None = None,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        gan_weight: float = 1.0,
        forward_cycle: bool = True,
        backward_cycle: bool = True,
        pool_size: int = 50,
        pool_seed: int = 0,
        augment: Augment | None = None,
        lecam: float = 0.0,
    ) -> None:
        super().__init__(augment, lecam)
        self.criterion = criterion if criterion is not None else LeastSquares()
        self.lambda_cycle = non_negative("loss.lambda_cycle", lambda_cycle)
        self.lambda_identity = non_negative("loss.lambda_identity", lambda_identity)
        self.gan_weight = non_negative("loss.gan_weight", gan_weight)
        for name, value in (("forward_cycle", forward_cycle), ("backward_cycle", backward_cycle)):
            if not isinstance(value, bool):
                raise ConfigError(f"loss.{name} must be true or false (got {value!r})")
        self.forward_cycle, self.backward_cycle = forward_cycle, backward_cycle
        if self.gan_weight == 0 and (self.lambda_cycle == 0 or not (forward_cycle or backward_cycle)):
            raise ConfigError("loss.gan_weight=0 and no cycle term leave the generators nothing to learn; keep one of them")
        # one history of fakes per discriminator; their own seeds, so that the run's seed makes them repeat
        self.pool_a = ImagePool(pool_size, seed=pool_seed * 2 + 11)  # G_ba's fakes, shown to D_a
        self.pool_b = ImagePool(pool_size, seed=pool_seed * 2 + 12)  # G_ab's fakes, shown to D_b
        self._fakes: tuple[Tensor, Tensor] | None = None  # (G_ba(b), G_ab(a)) of this step, for D's phase

    def phases(self, k: int) -> list[Phase]:
        return [
            Phase("generators", ("generator_ab", "generator_ba"), self._generator_phase),
            Phase("discriminators", ("discriminator_a", "discriminator_b"), self._discriminator_phase, new_batch=False),
        ]

    def check(self, nets: Networks, data: Any, k: int = 1) -> None:
        super().check(nets, data, k)
        if k != 1:
            raise ConfigError(f"train.k={k}: CycleGAN steps its discriminators once per step, on the fakes that step made; leave train.k=1")
        if self.lambda_identity > 0 and data.channels != data.channels_b:
            raise ConfigError(
                f"loss.lambda_identity={self.lambda_identity} compares G_ab(b) with b, but domain A has {data.channels} channels and B "
                f"{data.channels_b}: set data.channels for both, or loss.lambda_identity=0"
            )

    # ----- the two phases ----------------------------------------------------------------------
    def generator_losses(self, nets: Networks, a: Tensor, b: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor, Tensor]:
        """L_G for real batches a (B, C, S, S) of A and b of B, its terms, and the fakes (G_ba(b), G_ab(a))."""
        G_ab, G_ba, D_a, D_b = nets["generator_ab"], nets["generator_ba"], nets["discriminator_a"], nets["discriminator_b"]
        fake_b, fake_a = G_ab(a), G_ba(b)  # (B, C, S, S) each
        logs: dict[str, Tensor] = {}
        loss = torch.zeros((), device=a.device)
        if self.gan_weight > 0:
            gan_ab = self.criterion.generator_loss(self.run_D(D_b, fake_b, real=False))
            gan_ba = self.criterion.generator_loss(self.run_D(D_a, fake_a, real=False))
            loss = loss + self.gan_weight * (gan_ab + gan_ba)
            logs.update({"loss/g_gan_ab": gan_ab.detach(), "loss/g_gan_ba": gan_ba.detach()})
        if self.lambda_cycle > 0 and self.forward_cycle:
            cycle_a = l1_loss(G_ba(fake_b), a)  # A -> B -> A
            loss = loss + self.lambda_cycle * cycle_a
            logs["loss/cycle_a"] = cycle_a.detach()
        if self.lambda_cycle > 0 and self.backward_cycle:
            cycle_b = l1_loss(G_ab(fake_a), b)  # B -> A -> B
            loss = loss + self.lambda_cycle * cycle_b
            logs["loss/cycle_b"] = cycle_b.detach()
        if self.lambda_identity > 0 and self.lambda_cycle > 0:
            identity_a, identity_b = l1_loss(G_ba(a), a), l1_loss(G_ab(b), b)  # each G leaves its own target domain alone
            loss = loss + self.lambda_cycle * self.lambda_identity * (identity_a + identity_b)
            logs.update({"loss/identity_a": identity_a.detach(), "loss/identity_b": identity_b.detach()})
        logs["loss/g"] = loss.detach()
        return loss, logs, fake_a, fake_b

    def discriminator_losses(
        self, nets: Networks, a: Tensor, b: Tensor, fake_a: Tensor, fake_b: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L_D on real a, b and the fakes as the pools hand them on (each half of the criterion, as the paper)."""
        D_a, D_b = nets["discriminator_a"], nets["discriminator_b"]
        shown_a, shown_b = self.pool_a.query(fake_a), self.pool_b.query(fake_b)  # detached
        real_a, out_a = self.run_D(D_a, a, real=True), self.run_D(D_a, shown_a, real=False)  # (B, N, N): one output per patch
        real_b, out_b = self.run_D(D_b, b, real=True), self.run_D(D_b, shown_b, real=False)
        self.augment.observe(torch.cat([real_a.detach().flatten(1), real_b.detach().flatten(1)]))  # ADA's r_t: both judges' images
        d_a = 0.5 * self.criterion.discriminator_loss(real_a, out_a)
        d_b = 0.5 * self.criterion.discriminator_loss(real_b, out_b)
        judged = self.criterion.judged_real
        penalties = {**self.lecam_terms(real_a, out_a, "discriminator_a"), **self.lecam_terms(real_b, out_b, "discriminator_b")}
        lecam_logs = {name: value.detach() for name, (value, _) in penalties.items()}
        for name, (value, weight) in penalties.items():  # each judge's own: loss/lecam_a to D_a's loss
            if name.endswith("_a"):
                d_a = d_a + weight * value
            else:
                d_b = d_b + weight * value
        return d_a + d_b, {
            **lecam_logs,
            "loss/d_a": d_a.detach(),
            "loss/d_b": d_b.detach(),
            "d/real_a": judged(real_a.detach()),
            "d/fake_a": judged(out_a.detach()),
            "d/real_b": judged(real_b.detach()),
            "d/fake_b": judged(out_b.detach()),
        }

    def _generator_phase(self, nets: Networks, batch: Batch, latent: Any) -> LossTerms:
        assert batch.x_b is not None, "CycleGAN trains on unpaired batches (x: domain A, x_b: domain B)"
        loss, logs, fake_a, fake_b = self.generator_losses(nets, batch.x, batch.x_b)
        self._fakes = (fake_a.detach(), fake_b.detach())
        return self.augment_logs(LossTerms(loss, logs))

    def _discriminator_phase(self, nets: Networks, batch: Batch, latent: Any) -> LossTerms:
        assert self._fakes is not None and batch.x_b is not None, "the discriminators' phase follows the generators'"
        fake_a, fake_b = self._fakes
        self._fakes = None
        return self.augment_logs(LossTerms(*self.discriminator_losses(nets, batch.x, batch.x_b, fake_a, fake_b)))

    # ----- state, pictures, evaluation, translation ---------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict(), **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.pool_a.load_state_dict(state.pop("pool_a"))
        self.pool_b.load_state_dict(state.pop("pool_b"))
        super().load_state_dict(state)

    def picture_inputs(self, resources: Resources) -> Any:
        return resources.preview_domains()

    def pictures(self, nets: Networks, inputs: Any) -> dict[str, Tensor]:
        """Rows of a | G_ab(a) | G_ba(G_ab(a)), then b | G_ba(b) | G_ab(G_ba(b)), on held-out images."""
        from gantrain.models.pictures import cycle_rows

        a, b = inputs
        return {"samples": cycle_rows(nets["generator_ab"], nets["generator_ba"], a, b)}

    def evaluator(self, resources: Resources) -> Any:
        return resources.cycle_metrics()

    def translator(self, direction: str | None) -> str:
        if direction is None:
            raise ConfigError("task=translate on a CycleGAN run needs direction=AtoB or direction=BtoA: it has a generator each way")
        if direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"direction must be AtoB or BtoA (got {direction!r})")
        return "generator_ab" if direction == "AtoB" else "generator_ba"
