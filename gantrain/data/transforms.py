"""Turning one decoded image into a training sample, shared by the data sets that decode per item
(LSUN's LMDB values, a folder of image files).

The transform is DCGAN's (Radford et al., 2016) for LSUN: scale the shorter side to `size`, then cut
the central size x size square. Here the crop is taken first and resized in the same PIL call
(`resize(box=...)`), which gives the same square with one resampling pass and less work.
"""

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from gantrain.core.errors import ConfigError

# What PIL raises on a damaged or unsupported file: UnidentifiedImageError and "image file is truncated"
# are OSErrors, some plugins raise ValueError, SyntaxError or EOFError, and a huge image raises
# DecompressionBombError. Callers catch these to name the bad file or key in a DataError.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def check_shape(image_size: int, channels: int, minimum: int = 8) -> None:
    """Raise ConfigError unless image_size >= minimum and channels is 1 or 3."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < minimum:
        raise ConfigError(f"data.image_size must be an integer >= {minimum}, got {image_size!r}")
    if channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def load_square(image: Image.Image, size: int, channels: int) -> Tensor:
    """A PIL image of any size and mode -> uint8 tensor (channels, size, size), centre-cropped.

    channels=3 converts to RGB, channels=1 to PIL's "L" (ITU-R 601 luma); an alpha channel is dropped.
    """
    mode = "RGB" if channels == 3 else "L"
    # For a JPEG, decode straight at a reduced scale (DCT scaling) that still covers size x size:
    # a 1/2..1/8 faster decode of large photos. A no-op for every other format.
    image.draft(mode, (size, size))
    image = ImageOps.exif_transpose(image)  # photos from cameras store their rotation in EXIF
    image = _to_mode(image, mode)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    if (width, height) != (size, size):
        # BICUBIC in PIL widens its kernel by the scale factor when shrinking, i.e. it is antialiased.
        image = image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W) or (H, W, 3); np.array copies
    if pixels.dim() == 2:
        return pixels.unsqueeze(0)  # (1, H, W)
    return pixels.permute(2, 0, 1).contiguous()  # (3, H, W)


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert to "RGB" or "L", scaling 16- and 32-bit grey to 8 bits (PIL's convert would clip it)."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 255.0 if values.max(initial=0) <= 255 else 65535.0
        grey = Image.fromarray(np.clip(values * (255.0 / peak), 0, 255).round().astype(np.uint8), "L")
        return grey.convert(mode)
    if image.mode == mode:
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL warns when a palette with transparency goes straight to RGB
    return image.convert(mode)
