"""task=translate: a folder of images through the generator of a trained image translator."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gantrain.core.errors import ConfigError, DataError
from gantrain.core.files import save_png
from gantrain.core.folders import task_output
from gantrain.data.base import open_image
from gantrain.tasks.trained import load_run

INPUT_FORMS = ("image", "aligned", "edges")


@dataclass
class Translated:
    count: int  # images translated
    output: Path  # the folder their outputs went to
    grid: Path  # a contact sheet: source | output pairs of the first images
    step: int  # the training step of the generator used


def translate_folder(
    run: str | os.PathLike,
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    input_form: str = "image",
    direction: str | None = None,
    device: torch.device = torch.device("cpu"),
    seed: int = 0,
) -> Translated:
    """Translate every image under `input` (recursively) with the generator of a trained translation run:
    Pix2Pix's one generator, or CycleGAN's for `direction` (AtoB or BtoA; only that generator is loaded).

    input_form says what each file is: `image`, the source itself (resized to the run's image size);
    `aligned`, an A|B pair as in data=paired, whose source half (by the run's data.direction) is used;
    `edges`, an image whose Canny edges (the run's data.sigma) are the source, as data=edges2x makes
    them. Outputs are PNG files at the run's image size, with the input's relative paths, under `output`."""
    from torchvision.utils import make_grid

    from gantrain.data.folder import EXTENSIONS, image_files
    from gantrain.models.inference import translate

    if input_form not in INPUT_FORMS:
        raise ConfigError(f"input_form must be one of {', '.join(INPUT_FORMS)} (got {input_form!r})")
    if input in (None, ""):
        raise ConfigError("task=translate needs input=FOLDER: the folder of images to translate")
    if run in (None, ""):
        raise ConfigError("task=translate needs run=FOLDER: the Pix2Pix or CycleGAN run (or checkpoint) whose generator translates")
    source_root = Path(os.path.expanduser(str(input)))
    if not source_root.is_dir():
        raise DataError(f"input={input} is not a folder: pass the folder of images to translate")
    files = sorted(Path(p) for p in image_files(source_root, EXTENSIONS))
    if not files:
        raise DataError(f"no images ({', '.join(EXTENSIONS)}) under input={input}")
    out = task_output("translate", run, input, output)
    if out.resolve() == source_root.resolve() or source_root.resolve() in out.resolve().parents:
        raise ConfigError(f"output={out} is inside input={input}: choose a folder outside it, so no input file is overwritten")

    trained = load_run(run, device, only=lambda objective: (objective.translator(direction),))
    cfg = trained.config
    (G,) = trained.nets.values()
    data = cfg.data
    size, channels = int(data.image_size), int(data.channels)
    source_channels = int(data.get("source_channels", channels))  # (an unpaired run's domains share data.channels)
    batch_size = int(cfg.train.batch_size)  # batch norm normalises over batches of the training size
    make = _source_maker(input_form, size, channels, source_channels, str(data.get("direction", "AtoB")), float(data.get("sigma", 1.0)))

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)  # dropout stays on at test time (Isola et al.): seeded, so a rerun repeats
    sheet: list[torch.Tensor] = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        sources = torch.stack([make(path) for path in chunk])  # (B, C_s, S, S) uint8
        outputs = translate(G, sources, device=device, batch_size=batch_size)  # (B, C, S, S) in [0, 1]
        for path, image in zip(chunk, outputs):
            target = out / path.relative_to(source_root).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            save_png(target, image, "translated image")
        for source, image in zip(sources, outputs):
            if len(sheet) < 32:  # 16 pairs
                as_rgb = lambda t: t.expand(3, -1, -1) if t.shape[0] == 1 else t  # noqa: E731
                sheet += [as_rgb(source.float() / 255), as_rgb(image)]
    grid = out / "grid.png"
    save_png(grid, make_grid(sheet, nrow=8, pad_value=1.0), "source | output sheet")  # 4 source | output pairs per row
    return Translated(len(files), out, grid, trained.step)


def _source_maker(form: str, size: int, channels: int, source_channels: int, direction: str, sigma: float) -> Any:
    """The function from an image file to the generator's input, uint8 (source_channels, size, size)."""

    from gantrain.data.paired import _read, edge_map, resize_square
    from gantrain.data.transforms import DECODE_ERRORS, load_square

    def from_image(path: Path) -> torch.Tensor:
        return resize_square(_read(path, source_channels), size)

    def from_aligned(path: Path) -> torch.Tensor:
        ab = _read(path, source_channels)
        width = ab.shape[2]
        if width % 2:
            raise DataError(f"{path} is {width} pixels wide, an odd number: with input_form=aligned each file is A and B side by side")
        half = ab[:, :, : width // 2] if direction == "AtoB" else ab[:, :, width // 2 :]
        return resize_square(half, size)

    def from_edges(path: Path) -> torch.Tensor:
        if source_channels != 1:
            raise ConfigError(f"input_form=edges makes one-channel edge maps, but this generator takes {source_channels} channels")
        try:
            with open_image(path) as image:
                target = load_square(image, size, channels)
        except DECODE_ERRORS as e:
            raise DataError(f"cannot read image {path} ({e}); delete or replace the file") from e
        return edge_map(target, sigma)

    return {"image": from_image, "aligned": from_aligned, "edges": from_edges}[form]
