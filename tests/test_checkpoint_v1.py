"""Run folders written by checkpoint format 1 (gantrain at b1ed6eb, tests/fixtures/v1/) still resume to the
very weights that version reached, and still serve the tasks on a trained run."""

import shutil
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli, task_file

from gantrain.training.checkpoint import find_checkpoint, load_checkpoint

FIXTURES = ROOT / "tests" / "fixtures" / "v1"
MODELS = ("dcgan", "vae", "pix2pix", "sgan")
# A bias just before batch norm has a zero gradient up to rounding, and Adam turns that rounding noise into
# steps of up to lr each: across CPUs such a bias may differ by up to (steps resumed) x lr. SGAN's lr is 3e-3.
ZERO_GRADIENT_ATOL = {("sgan", "generator", "net.0.bias"): 4 * 3e-3}


def _copy(model: str, tmp_path: Path) -> Path:
    run = tmp_path / model
    shutil.copytree(FIXTURES / model / "run", run)
    return run


def _weights(state: dict, model: str) -> dict[str, dict[str, torch.Tensor]]:
    """The fixture's three weight sets, from a checkpoint of either format."""
    if "networks" not in state:  # format 1
        return {k: state[k] for k in ("generator", "discriminator", "d_average") if k in state}
    nets = state["networks"]
    g, d = ("decoder", "encoder") if model == "vae" else ("generator", "discriminator")
    out = {"generator": nets[g], "discriminator": nets[d]}
    if "discriminator" in state.get("averages", {}):
        out["d_average"] = state["averages"]["discriminator"]
    return out


@pytest.mark.parametrize("model", MODELS)
def test_a_version_1_run_resumes_to_the_weights_that_version_reached(model: str, tmp_path: Path) -> None:
    run = _copy(model, tmp_path)
    # in the layout that version trained in (NCHW): the default is channels-last on AVX-512 CPUs now, whose
    # float32 convolutions round differently (tests/test_precision.py checks that difference is rounding)
    done = run_cli(f"train.resume={run}", "train.steps=8", "train.channels_last=false", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resumed from step 4" in done.stdout
    state = load_checkpoint(find_checkpoint(run))
    assert state["step"] == 8
    expected = torch.load(FIXTURES / model / "resumed_to_step8.pt", weights_only=True)
    got = _weights(state, model)
    assert set(got) == set(expected) - {"step"}
    for part, tensors in got.items():
        assert tensors.keys() == expected[part].keys(), part
        for key, value in tensors.items():
            # bit-identical on the CPU the fixture was made on; other instruction sets round differently
            atol = ZERO_GRADIENT_ATOL.get((model, part, key), 1e-6)
            torch.testing.assert_close(value, expected[part][key], rtol=1e-5, atol=atol, msg=f"{part}.{key}")


@pytest.mark.parametrize("model", ("dcgan", "vae"))
def test_a_version_1_run_still_serves_task_sample(model: str, tmp_path: Path) -> None:
    run = _copy(model, tmp_path)
    done = run_cli("task=sample", f"run={run}", "n=4", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (task_file(run / "sample", "samples_n4_seed0.png")).is_file()


def test_a_version_1_pix2pix_run_still_translates(tmp_path: Path) -> None:
    from torchvision.utils import save_image

    run = _copy("pix2pix", tmp_path)
    folder = tmp_path / "edges"
    folder.mkdir()
    for i in range(3):
        save_image(torch.rand(1, 32, 32), folder / f"{i}.png")
    done = run_cli("task=translate", f"run={run}", f"input={folder}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(list((run / "translated" / "edges").glob("*.png"))) == 4  # three outputs and the grid


def test_a_version_1_sgan_run_still_serves_task_confusion(tmp_path: Path) -> None:
    run = _copy("sgan", tmp_path)
    done = run_cli("task=confusion", f"run={run}", "n=2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "moving average" in done.stdout
