"""Pix2Pix: U-Net shapes, PatchGAN receptive fields measured on the built network, the L1 + cGAN loss
against hand-computed values, both paired data formats, and a short run of the built-in task."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.paired import Edges2X, PairedFolder, canny_edges
from gantrain.losses.base import Batch
from gantrain.losses.functional import discriminator_loss, non_saturating_generator_loss
from gantrain.losses.l1_cgan import L1ConditionalGAN
from gantrain.models.base import Network
from gantrain.models.pix2pix import PatchGANDiscriminator, UNetGenerator, valid_patch_sizes


def measured_receptive_field(D: PatchGANDiscriminator, side: int) -> int:
    """The width of the input region that one central output depends on: the gradient's support."""
    D.eval()  # batch norm on running statistics: no coupling of pixels through batch statistics
    x = torch.randn(1, 1, side, side, requires_grad=True)
    out = D(torch.zeros(1, 1, side, side), x)  # (1, N, N)
    n = out.shape[-1]
    out[0, n // 2, n // 2].backward()
    columns = (x.grad[0, 0].abs().sum(0) > 0).nonzero().flatten()
    return int(columns.max() - columns.min() + 1)


@pytest.mark.parametrize("patch_size", [1, 16, 34, 70, 142, 286])
def test_patchgan_receptive_field_of_the_built_network_is_the_setting(patch_size: int) -> None:
    D = PatchGANDiscriminator(image_size=512, in_channels=1, out_channels=1, patch_size=patch_size, width=2)
    # an input twice the field, so the central output's field lies inside the image, unclipped
    side = max(64, 2 * patch_size + 32)
    assert measured_receptive_field(D, side) == patch_size


def test_patchgan_output_grid_and_unreachable_sizes() -> None:
    D = PatchGANDiscriminator(image_size=256, in_channels=3, out_channels=3, patch_size=70, width=4).eval()
    assert D(torch.zeros(1, 3, 256, 256), torch.zeros(1, 3, 256, 256)).shape == (1, 30, 30) and D.output_size == 30
    assert "30x30" in D.describe() and "70x70" in D.describe()
    assert valid_patch_sizes(256)[:6] == [1, 16, 34, 70, 142, 286]
    assert valid_patch_sizes(32) == [1, 16, 34, 70]
    with pytest.raises(ConfigError, match="choose one of 1, 16, 34, 70"):
        PatchGANDiscriminator(image_size=32, in_channels=1, out_channels=1, patch_size=142)
    with pytest.raises(ConfigError, match="patch_size=50"):
        PatchGANDiscriminator(image_size=256, patch_size=50)
    unconditional = PatchGANDiscriminator(image_size=32, in_channels=1, out_channels=1, patch_size=16, width=4, conditional=False)
    assert unconditional.net[0].in_channels == 1  # the output alone


@pytest.mark.parametrize("size, depth", [(256, 8), (32, 5)])
def test_unet_shapes_and_skips(size: int, depth: int) -> None:
    G = UNetGenerator(image_size=size, in_channels=1, out_channels=3, width=4)
    assert G.depth == depth
    y = G(torch.randn(2, 1, size, size))
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1
    plain = UNetGenerator(image_size=size, in_channels=1, out_channels=3, width=4, skips=False)
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in G.parameters())  # no concatenated inputs
    assert plain(torch.randn(2, 1, size, size)).shape == (2, 3, size, size)
    with pytest.raises(ConfigError, match="power of 2"):
        UNetGenerator(image_size=48)


class _ConstantD(Network):
    """A 1x1 'patch' discriminator whose logit is the mean of the image it judges."""

    def __init__(self, with_source: bool = True) -> None:
        super().__init__()
        self.with_source = with_source

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return image.mean(dim=(1, 2, 3)).view(-1, 1, 1)


def test_l1_cgan_loss_variants_by_hand() -> None:
    G = lambda source: source * 0.5  # noqa: E731
    source, target = torch.full((1, 1, 2, 2), 0.8), torch.full((1, 1, 2, 2), 0.2)
    batch, D = Batch(x=target, source=source), _ConstantD()
    # G(source) = 0.4 everywhere: L1 = |0.4 - 0.2| = 0.2, and D's logit on it is 0.4
    full = L1ConditionalGAN(lambda_l1=100, gan_weight=1).generator_step(G, D, batch, None)
    gan = non_saturating_generator_loss(torch.tensor([[[0.4]]])).item()
    assert full.logs["loss/g_l1"].item() == pytest.approx(0.2)
    assert full.loss.item() == pytest.approx(100 * 0.2 + gan)
    l1_only = L1ConditionalGAN(lambda_l1=100, gan_weight=0).generator_step(G, D, batch, None)
    assert l1_only.loss.item() == pytest.approx(20.0) and "loss/g_gan" not in l1_only.logs
    cgan_only = L1ConditionalGAN(lambda_l1=0, gan_weight=1).generator_step(G, D, batch, None)
    assert cgan_only.loss.item() == pytest.approx(gan)
    d = L1ConditionalGAN().discriminator_step(G, D, batch, None)
    expected = 0.5 * discriminator_loss(torch.tensor([0.2]), torch.tensor([0.4])).item()  # the paper halves D's loss
    assert d.loss.item() == pytest.approx(expected)
    with pytest.raises(ConfigError, match="loss.conditional=false but model.discriminator.conditional=true"):
        patchgan = PatchGANDiscriminator(image_size=16, in_channels=1, out_channels=1, patch_size=16, width=2, conditional=True)
        L1ConditionalGAN(conditional=False).check_pair(G, patchgan, type("Pairs", (), {"paired": True})())


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_aligned_and_two_folder_pairs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    _write(tmp_path / "aligned" / "train" / "0.png", np.concatenate([a, b], axis=1))
    _write(tmp_path / "folders" / "train" / "A" / "0.png", a)
    _write(tmp_path / "folders" / "train" / "B" / "0.png", b)
    for root in ("aligned", "folders"):
        plain = PairedFolder(str(tmp_path / root), image_size=40, load_size=40, flip=False)
        source, target = plain[0]
        assert torch.equal(source, torch.from_numpy(a).permute(2, 0, 1)) and torch.equal(target, torch.from_numpy(b).permute(2, 0, 1))
        swapped = PairedFolder(str(tmp_path / root), image_size=40, load_size=40, flip=False, direction="BtoA")
        assert torch.equal(swapped[0][0], target)
        jittered = PairedFolder(str(tmp_path / root), image_size=32, load_size=36)
        s, t = jittered[0]
        assert s.shape == t.shape == (3, 32, 32)
    _write(tmp_path / "odd" / "train" / "0.png", rng.integers(0, 255, (40, 81, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="odd number"):
        PairedFolder(str(tmp_path / "odd"), image_size=32)[0]
    _write(tmp_path / "sizes" / "train" / "A" / "0.png", a)
    _write(tmp_path / "sizes" / "train" / "B" / "0.png", b[:30])
    with pytest.raises(DataError, match="same size"):
        PairedFolder(str(tmp_path / "sizes"), image_size=32)[0]
    with pytest.raises(ConfigError, match="AtoB or BtoA"):
        PairedFolder(str(tmp_path / "aligned"), direction="AtoC")


def test_jitter_crops_and_flips_both_images_alike(tmp_path: Path) -> None:
    a = np.tile(np.arange(40, dtype=np.uint8) * 6, (40, 1))[..., None].repeat(3, 2)  # a horizontal ramp
    _write(tmp_path / "train" / "0.png", np.concatenate([a, a], axis=1))
    data = PairedFolder(str(tmp_path), image_size=32, load_size=40)
    for _ in range(8):
        s, t = data[0]
        assert torch.equal(s, t)  # the same crop and the same flip


def test_edges_from_the_bundled_digits_and_a_folder(tmp_path: Path) -> None:
    digits = Edges2X(split="test")
    source, target = digits[0]
    assert source.shape == target.shape == (1, 32, 32) and len(digits) == 1000
    assert set(source.unique().tolist()) <= {0, 255} and source.float().mean() > 0  # edges found
    square = np.zeros((32, 32), dtype=np.uint8)
    square[8:24, 8:24] = 255
    edges = canny_edges(square[None], 1.0)[0]
    assert edges[16, 8] == 255 and edges[16, 16] == 0  # on the border, not inside
    for i in range(10):
        _write(tmp_path / f"{i}.png", np.full((20, 20, 3), 25 * i, dtype=np.uint8))
    train, held_out = Edges2X(str(tmp_path), image_size=16, channels=3), Edges2X(str(tmp_path), split="val", image_size=16, channels=3)
    assert len(train) == 9 and len(held_out) == 1
    assert train[0][0].shape == (1, 16, 16) and train[0][1].shape == (3, 16, 16)


def test_cached_edge_maps_are_the_maps_made_again_and_a_bad_cache_is_passed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import skimage.feature

    rng = np.random.default_rng(0)
    images = (rng.random((6, 32, 32)) > 0.5).astype(np.uint8) * 200
    made = canny_edges(images, 1.0)
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    assert np.array_equal(canny_edges(images, 1.0, cached=True), made)
    (kept,) = (tmp_path / "cache" / "edges").glob("canny-*.npy")
    calls = []
    real = skimage.feature.canny
    monkeypatch.setattr(skimage.feature, "canny", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert np.array_equal(canny_edges(images, 1.0, cached=True), made) and not calls  # loaded, not made
    assert not np.array_equal(canny_edges(images, 2.0, cached=True), made) and calls  # another sigma: its own file
    kept.write_bytes(b"not a numpy file")  # damaged: made again and replaced
    assert np.array_equal(canny_edges(images, 1.0, cached=True), made) and np.array_equal(np.load(kept), made)
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("GANTRAIN_CACHE", str(blocker))  # a cache that cannot be written: the maps all the same
    assert np.array_equal(canny_edges(images, 1.0, cached=True), made)


def test_short_run_of_the_built_in_task_logs_triplets_heat_map_and_metrics(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = run_cli(
        "model=pix2pix",
        "train.steps=4",
        "train.batch_size=4",
        "model.generator.width=4",
        "model.discriminator.width=4",
        "eval.every=2",
        "train.sample_every=2",
        "train.log_every=2",
        "model.patch_size=16",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PatchGAN 16x16 receptive field, 14x14 real/fake decisions" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    assert 0 <= lines[-1]["eval/ssim"] <= 1 and lines[-1]["eval/psnr"] > 0 and 0 <= lines[-1]["eval/l1"] <= 1
    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    assert {"samples", "patchgan"} <= set(events.Tags()["images"])
    assert {"loss/g_l1", "loss/g_gan", "loss/d", "eval/psnr", "eval/ssim", "eval/l1"} <= set(events.Tags()["scalars"])
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000004.png")
    assert grid.size[0] == 3 * 32 + 4 * 2  # three columns: source | output | target

    # task=eval on the run: its own evaluation again, on the same held-out pairs, the same numbers
    scored = run_cli("task=eval", "run=run", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert "the run's own evaluation (TranslationMetrics)" in " ".join(scored.stdout.split())
    record = json.loads((tmp_path / "run" / "eval" / "metrics_step4_seed0.json").read_text())
    for key in ("eval/l1", "eval/psnr", "eval/ssim"):
        assert record[key] == pytest.approx(lines[-1][key], rel=0.05, abs=0.01), key  # its dropout draws differ from training's

    # what a sample-based evaluation takes means nothing here: refused in one line, nothing written
    for given in ("n=500", "eval.extractor=none"):
        refused = run_cli("task=eval", "run=run", given, cwd=tmp_path)
        assert refused.returncode != 0 and f"{given}: a translation run is scored" in " ".join(refused.stderr.split())
        assert len([line for line in refused.stderr.splitlines() if line.strip()]) == 1, refused.stderr


def test_held_out_pairs_are_capped_and_spread_over_the_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from omegaconf import OmegaConf

    import gantrain.training.setup
    from gantrain.training.settings import EvalSettings, TrainSettings

    for split, n in (("train", 2), ("val", 12)):
        for i in range(n):
            _write(tmp_path / split / f"{i:02d}.png", np.full((8, 16), i * 10, dtype=np.uint8))  # A|B, both of value 10i
    cfg = OmegaConf.create(
        {"data": {"_target_": "gantrain.data.paired.PairedFolder", "root": str(tmp_path), "image_size": 8, "load_size": 8, "channels": 1}}
    )
    monkeypatch.setattr(gantrain.training.setup, "HELD_OUT_PAIRS", 4)
    setup = gantrain.training.setup.Setup(
        cfg,
        data=None,
        nets={},
        objective=None,
        prior=None,
        settings=TrainSettings(n_samples=16, batch_size=2),
        eval_settings=EvalSettings(),
        device=torch.device("cpu"),
        seed=0,
    )
    metrics, preview = setup.translation_metrics(), setup.preview_pairs()
    assert metrics is not None
    assert [int(source[0, 0, 0]) for source, _ in metrics.pairs] == [0, 40, 70, 110]  # 4 of the 12, first to last
    assert preview[0].shape == (2, 1, 8, 8)
