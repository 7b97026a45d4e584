"""ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): each transform of
D's inputs is applied to an image with probability p, and p adapts to how much D overfits.

The overfitting heuristic is r_t = E[sign(D(x_real))] over the real batches of the last `interval` D steps
(Augment.observe): near 1 when D is sure of every training image. Every `interval` D steps p moves up when
r_t > target and down otherwise, by as much as lets it go from 0 to 1 in `ada_kimg` thousand real images
(the paper: target 0.6, 500k images). Under data-parallel training the sums are added over the ranks first,
so every rank keeps the same p. p and its running sums are in the checkpoint: a resumed run goes on exactly.

The pipeline is the paper's "bgc" in plain torch, each part switchable: x-flips, rotations by 90 degrees,
integer translation (up to 1/8 of a side, reflected at the borders), isotropic and anisotropic scaling
(bilinear resampling, reflected), and colour (brightness, contrast, saturation). Every draw is per image
and shared by the images paired with it (a Pix2Pix D's source).
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gantrain.augment.base import Augment
from gantrain.core.errors import ConfigError


def _chance(p: float, x: Tensor) -> Tensor:
    """(B,) True for the images a transform is applied to, each with probability p."""
    return torch.rand(x.shape[0], device=x.device) < p


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)


class ADA(Augment):
    """augment=ada: the adaptive augmentation. `p`: the probability at the start (0: the paper's)."""

    def __init__(
        self,
        p: float = 0.0,
        target: float = 0.6,
        ada_kimg: float = 500,
        interval: int = 4,
        adaptive: bool = True,
        xflip: bool = True,
        rotate90: bool = True,
        xint: bool = True,
        scale: bool = True,
        aniso: bool = True,
        color: bool = True,
    ) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
            raise ConfigError(f"augment.p must be a probability in [0, 1] (got {p!r})")
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 < float(target) <= 1.0:
            raise ConfigError(f"augment.target must be in (0, 1], the r_t that ADA holds p at (the paper's 0.6; got {target!r})")
        if isinstance(ada_kimg, bool) or not isinstance(ada_kimg, (int, float)) or not float(ada_kimg) > 0:
            raise ConfigError(f"augment.ada_kimg must be a number > 0, the thousands of real images p takes from 0 to 1 (got {ada_kimg!r})")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError(f"augment.interval must be an integer >= 1, the D steps between adjustments of p (got {interval!r})")
        switches = {"adaptive": adaptive, "xflip": xflip, "rotate90": rotate90, "xint": xint}
        for name, value in {**switches, "scale": scale, "aniso": aniso, "color": color}.items():
            if not isinstance(value, bool):
                raise ConfigError(f"augment.{name} must be true or false (got {value!r})")
        self.p, self.target, self.ada_kimg, self.interval, self.adaptive = float(p), float(target), float(ada_kimg), interval, adaptive
        self.xflip, self.rotate90, self.xint, self.scale, self.aniso, self.color = xflip, rotate90, xint, scale, aniso, color
        # since the last adjustment: the sum of sign(D(x_real)) (a float, or a tensor on D's device), images, D steps
        self.sign_sum: float | Tensor = 0.0
        self.count, self.steps = 0, 0
        self.rt = float("nan")  # the last adjustment's r_t

    # ----- the adaptation ------------------------------------------------------------------------
    def observe(self, real_scores: Tensor) -> None:
        if not self.adaptive:
            return
        # real_scores (B, ...): one or more scores per image (a PatchGAN's per patch); r_t is their mean
        # sign, and p's speed counts images
        signs = real_scores.detach().float().sign().flatten(1).mean(1) if real_scores.dim() > 1 else real_scores.detach().float().sign()
        # kept on D's device between adjustments: no host-device sync at every D step
        self.sign_sum = self.sign_sum + signs.sum().double()
        self.count += len(signs)
        self.steps += 1
        if self.steps >= self.interval:
            self._adjust()

    def _adjust(self) -> None:
        totals = torch.tensor([float(self.sign_sum), float(self.count)], dtype=torch.float64)  # (the one sync)
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # every rank the same p
            totals = totals.to("cuda" if torch.distributed.get_backend() == "nccl" else "cpu")
            torch.distributed.all_reduce(totals)
        sign_sum, count = totals.tolist()
        self.rt = sign_sum / max(count, 1.0)
        # p from 0 to 1 in ada_kimg thousand images: each image seen moves it 1 / (1000 ada_kimg)
        self.p = min(1.0, max(0.0, self.p + math.copysign(count / (self.ada_kimg * 1000), self.rt - self.target)))
        self.sign_sum, self.count, self.steps = 0.0, 0, 0

    def logs(self) -> dict[str, Tensor]:
        numbers = {"augment/p": torch.tensor(self.p)}
        if not math.isnan(self.rt):
            numbers["augment/rt"] = torch.tensor(self.rt)
        return numbers

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "sign_sum": float(self.sign_sum), "count": self.count, "steps": self.steps, "rt": self.rt}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p, self.sign_sum = float(state["p"]), float(state["sign_sum"])
        self.count, self.steps, self.rt = int(state["count"]), int(state["steps"]), float(state["rt"])

    # ----- the pipeline --------------------------------------------------------------------------
    def __call__(self, x: Tensor, *paired: Tensor) -> tuple[Tensor, ...]:
        out = (x, *paired)
        if self.p <= 0:
            return out
        b, _, h, w = x.shape
        p = self.p
        if self.xflip:
            flip = _chance(p, x) & (torch.rand(b, device=x.device) < 0.5)
            out = tuple(_where(flip, t.flip(-1), t) for t in out)
        if self.rotate90 and h == w:  # a quarter turn keeps only a square's shape
            turns = torch.randint(1, 4, (b,), device=x.device) * _chance(p, x)  # 0: none
            for k in (1, 2, 3):
                out = tuple(_where(turns == k, torch.rot90(t, k, dims=(-2, -1)), t) for t in out)
        if self.xint:
            out = self._translate(out, _chance(p, x))
        if self.scale or self.aniso:
            out = self._rescale(out, p)
        if self.color:
            out = self._colour(out, p)
        return out

    def _translate(self, out: tuple[Tensor, ...], mask: Tensor) -> tuple[Tensor, ...]:
        x = out[0]
        b, _, h, w = x.shape
        ry, rx = max(1, int(h * 0.125 + 0.5)), max(1, int(w * 0.125 + 0.5))
        dy = torch.randint(-ry, ry + 1, (b, 1), device=x.device) * mask.view(b, 1)  # whole pixels; 0 where not applied
        dx = torch.randint(-rx, rx + 1, (b, 1), device=x.device) * mask.view(b, 1)
        rows = (torch.arange(h, device=x.device) + dy + ry)[:, :, None]  # (B, H, 1) into the padded image
        cols = (torch.arange(w, device=x.device) + dx + rx)[:, None, :]  # (B, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None]

        def shift(t: Tensor) -> Tensor:
            padded = F.pad(t, (rx, rx, ry, ry), mode="reflect")
            return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

        return tuple(shift(t) for t in out)

    def _rescale(self, out: tuple[Tensor, ...], p: float) -> tuple[Tensor, ...]:
        x = out[0]
        b = x.shape[0]
        log_sx = torch.zeros(b, device=x.device)
        log_sy = torch.zeros(b, device=x.device)
        if self.scale:  # isotropic: lognormal with sd 0.2 log 2
            s = torch.randn(b, device=x.device) * (0.2 * math.log(2)) * _chance(p, x)
            log_sx, log_sy = log_sx + s, log_sy + s
        if self.aniso:  # anisotropic: one axis stretched, the other shrunk
            a = torch.randn(b, device=x.device) * (0.2 * math.log(2)) * _chance(p, x)
            log_sx, log_sy = log_sx + a, log_sy - a
        theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 1, 1] = torch.exp(-log_sx), torch.exp(-log_sy)  # the grid samples 1/s: the image grows by s
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        moved = (log_sx != 0) | (log_sy != 0)

        def resample(t: Tensor) -> Tensor:
            return F.grid_sample(t, grid.to(t.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)

        return tuple(_where(moved, resample(t), t) for t in out)

    def _colour(self, out: tuple[Tensor, ...], p: float) -> tuple[Tensor, ...]:
        x = out[0]
        b = x.shape[0]

        def factor(sd: float) -> Tensor:  # (B, 1, 1, 1): lognormal, 1 where not applied
            return torch.exp(torch.randn(b, device=x.device) * sd * _chance(p, x)).to(x.dtype).view(b, 1, 1, 1)

        brightness = (torch.randn(b, device=x.device) * 0.2 * _chance(p, x)).to(x.dtype).view(b, 1, 1, 1)
        contrast, saturation = factor(0.5 * math.log(2)), factor(math.log(2))

        def apply(t: Tensor) -> Tensor:
            t = t + brightness
            mean = t.mean(dim=(1, 2, 3), keepdim=True)
            t = (t - mean) * contrast + mean
            grey = t.mean(dim=1, keepdim=True)
            return (t - grey) * saturation + grey

        return tuple(apply(t) for t in out)
