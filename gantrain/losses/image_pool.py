"""The history of generated images of Shrivastava, Pfister, Tuzel, Susskind, Wang & Webb, "Learning
from Simulated and Unsupervised Images through Adversarial Training" (CVPR 2017), section 2.3, which
CycleGAN (Zhu et al. 2017, section 4) keeps for each discriminator: 50 images.

D is updated on a mix of G's latest outputs and older ones, so that it does not forget the fakes it
has already learned to reject and G cannot win by cycling back to them. While the pool fills, each
new image is stored and passed through; once full, each new image is, with probability 1/2, swapped
for a stored one chosen uniformly (D sees the old one, the new one takes its place), else passed
through.

The pool draws from its own CPU torch.Generator, so its choices depend on its seed and history only,
not on the global RNG or the device; state_dict() carries the generator's state with the images, so
that a resumed run makes the same choices as an uninterrupted one.
"""

import torch
from torch import Tensor

from gantrain.core.errors import ConfigError


class ImagePool:
    """A buffer of up to `size` generated images; query() returns D's batch of fakes."""

    def __init__(self, size: int = 50, seed: int = 0, *, key: str = "loss.pool_size") -> None:
        """`key`: the config key that set size, named in the error for a bad value."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(f"{key}={size!r} must be a whole number >= 0; the paper keeps 50 images, 0 turns the pool off")
        self.size, self.key = size, key
        self.count = 0  # images stored; the first `count` rows of _images are filled
        self._images: Tensor | None = None  # (size, C, H, W), allocated on the first query
        self._generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.count

    def query(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) from G -> (B, C, H, W) for D: each one new or from the history, detached."""
        images = images.detach()
        if self.size == 0:
            return images
        self._ready_for(images)
        assert self._images is not None
        out: list[Tensor] = []
        for image in images:  # one at a time: a later image may draw the slot an earlier one just filled
            if self.count < self.size:
                self._images[self.count].copy_(image)
                self.count += 1
                out.append(image)
            elif torch.rand((), generator=self._generator).item() < 0.5:
                i = int(torch.randint(self.size, (), generator=self._generator).item())
                out.append(self._images[i].clone())  # a copy: the slot is overwritten next
                self._images[i].copy_(image)
            else:
                out.append(image)
        return torch.stack(out)

    def _ready_for(self, images: Tensor) -> None:
        """Allocate the storage for images like these, or move it to their device and dtype (after a
        load_state_dict() it sits on the CPU)."""
        shape = (self.size, *images.shape[1:])
        if self._images is None:
            self._images = images.new_empty(shape)
        elif self._images.shape != shape:
            raise ValueError(f"the image pool holds images of shape {tuple(self._images.shape[1:])}, got {tuple(images.shape[1:])}")
        else:
            self._images = self._images.to(device=images.device, dtype=images.dtype)

    def state_dict(self) -> dict[str, object]:
        """Plain data (ints and CPU tensors) that torch.load(weights_only=True) reads back."""
        if self._images is None or self.count == 0:
            stored = torch.empty(0)
        else:
            stored = self._images[: self.count].to("cpu", copy=True)  # (count, C, H, W), never a view of the pool
        return {"size": self.size, "count": self.count, "images": stored, "generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore a state_dict() exactly; the images move to the device of the next query."""
        size, count, stored = int(state["size"]), int(state["count"]), state["images"]
        if size != self.size:
            raise ConfigError(f"{self.key}={self.size} but the checkpoint's image pool has size {size}; resume with {self.key}={size}")
        if not isinstance(stored, Tensor) or not 0 <= count <= size or (count > 0 and stored.shape[0] != count):
            raise ValueError("not an image pool state: the stored images do not match its count")
        self.count = count
        if count == 0:
            self._images = None
        else:
            self._images = stored.new_empty((size, *stored.shape[1:]))
            self._images[:count].copy_(stored)
        self._generator.set_state(state["generator"].clone())
