"""The tasks besides training: task=translate (a folder through a trained Pix2Pix G) and task=report
(the table of a sweep), as a user runs them, and their bad inputs."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_GAN, run_cli, task_file
from PIL import Image

from gantrain.app.report import plot_report, read_run, sweep_report, write_report
from gantrain.core.errors import ConfigError, DataError
from gantrain.core.folders import task_output
from gantrain.core.priors import LatentPrior
from gantrain.models.inference import generate_images, translate
from gantrain.tasks import _source_maker, load_run
from gantrain.training.devices import resolve_device

TINY_PIX2PIX = [
    "model=pix2pix",
    "train.steps=2",
    "train.batch_size=4",
    "model.generator.width=4",
    "model.discriminator.width=4",
    "model.patch_size=16",
    "eval.every=2",
    "train.log_every=2",
    "device=cpu",
]


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-step Pix2Pix run on the built-in edges -> digit task."""
    where = tmp_path_factory.mktemp("pix2pix")
    result = run_cli(*TINY_PIX2PIX, "hydra.run.dir=run", cwd=where)
    assert result.returncode == 0, result.stderr[-2000:]
    return where / "run"


def _digit_folder(folder: Path) -> list[Path]:
    """Ten bundled test digits as image files, two of them in a sub-folder and as JPEG."""
    from gantrain.data.mnist import load_bundled

    digits, _ = load_bundled("test")
    paths = []
    for i in range(10):
        path = folder / (f"{i}.png" if i < 8 else f"more/{i}.jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits[i]).save(path)
        paths.append(path)
    return paths


def test_translate_writes_what_the_trained_generator_gives(pix2pix_run: Path, tmp_path: Path) -> None:
    inputs = _digit_folder(tmp_path / "photos")
    result = run_cli("task=translate", f"run={pix2pix_run}", f"input={tmp_path / 'photos'}", "input_form=edges", "seed=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gantrain: translated" in result.stdout
    out = pix2pix_run / "translated" / "photos"  # the default: RUN/translated/<input folder name>/
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png") if p.name != "grid.png")
    assert written == sorted(p.relative_to(tmp_path / "photos").with_suffix(".png").as_posix() for p in inputs)
    assert Image.open(out / "grid.png").size[0] == 8 * 32 + 9 * 2  # 4 source | output pairs per row
    assert not (out / ".hydra").exists() and not (tmp_path / "outputs").exists()  # no run record in an output folder

    # the files hold G(edges of the image), seeded like the task: recompute in-process and compare
    device = resolve_device("auto")  # the task ran there; on a GPU its dropout masks come from the GPU's RNG
    trained = load_run(pix2pix_run, device)
    make = _source_maker("edges", 32, 1, 1, "AtoB", float(trained.config.data.sigma))
    sources = torch.stack([make(p) for p in sorted(inputs)])
    assert sources.shape == (10, 1, 32, 32) and set(sources.unique().tolist()) <= {0, 255}
    torch.manual_seed(3)
    expected = translate(trained.nets["generator"], sources, device=device, batch_size=int(trained.config.train.batch_size))
    for path, image in zip(sorted(inputs), expected):
        saved = np.asarray(Image.open(out / path.relative_to(tmp_path / "photos").with_suffix(".png")).convert("L"), dtype=np.float32)
        assert np.abs(saved - image[0].numpy() * 255).max() <= 1.0, path


def test_aligned_input_takes_the_source_half_by_direction(tmp_path: Path) -> None:
    pair = np.zeros((8, 16), dtype=np.uint8)
    pair[:, 8:] = 200  # A (left) black, B (right) grey
    Image.fromarray(pair).save(tmp_path / "pair.png")
    a_to_b = _source_maker("aligned", 4, 1, 1, "AtoB", 1.0)(tmp_path / "pair.png")
    b_to_a = _source_maker("aligned", 4, 1, 1, "BtoA", 1.0)(tmp_path / "pair.png")
    assert a_to_b.shape == b_to_a.shape == (1, 4, 4)
    assert a_to_b.max() == 0 and b_to_a.min() == 200


def test_the_default_output_folder_is_inside_the_run(tmp_path: Path) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.pt").write_bytes(b"")
    assert task_output("translate", tmp_path / "run", "~/edges", None) == tmp_path / "run" / "translated" / "edges"
    assert (
        task_output("translate", tmp_path / "run" / "checkpoints" / "last.pt", "x/edges/", None)
        == tmp_path / "run" / "translated" / "edges"
    )
    assert task_output("translate", tmp_path / "run", "edges", "elsewhere") == Path("elsewhere")
    assert task_output("sample", tmp_path / "run" / "checkpoints" / "last.pt", None, None) == tmp_path / "run" / "sample"


def _one_error_line(result) -> str:
    out = (result.stdout + result.stderr).strip()
    assert result.returncode == 2 and "Traceback" not in out, out
    assert len(out.splitlines()) == 1 and out.startswith("error:"), out
    return out


def test_translate_bad_inputs_fail_with_one_line_and_leave_nothing(pix2pix_run: Path, cgan_run: Path, tmp_path: Path) -> None:
    from gantrain.tasks import translate_folder

    _digit_folder(tmp_path / "in")
    for kwargs, error, expected in (
        ({"run": cgan_run, "input": tmp_path / "in"}, ConfigError, "is not a translation run"),
        ({"run": pix2pix_run, "input": None}, ConfigError, "needs input=FOLDER"),
        ({"run": pix2pix_run, "input": tmp_path / "missing"}, DataError, "is not a folder"),
        (
            {"run": pix2pix_run, "input": tmp_path / "in", "input_form": "sketch"},
            ConfigError,
            "input_form must be one of image, aligned, edges",
        ),
    ):
        with pytest.raises(error, match=expected):
            translate_folder(**kwargs)
    cases = {  # through the command: one line, and no folder made on the way
        "no such run": (["run=nowhere", "input=in"], "run=nowhere: no such run folder"),
        "output inside input": ([f"run={pix2pix_run}", "input=in", "output=in/out"], "is inside input=in"),
    }
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for name, (args, expected) in cases.items():
        assert expected in _one_error_line(run_cli("task=translate", *args, cwd=tmp_path)), name
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing made, nothing lost
    assert not (cgan_run / "translated").exists() and not (pix2pix_run / "translated" / "in").exists()
    assert "input= is a setting of task=translate" in _one_error_line(run_cli("input=in", cwd=tmp_path))
    assert "unknown task 'sample2'" in _one_error_line(run_cli("task=sample2", cwd=tmp_path))
    assert not (tmp_path / "outputs").exists()


def _fake_run(folder: Path, overrides: list[str], evals: list[dict] | None, summary: dict | None) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if evals is not None:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))


def test_sweep_report_tables_the_swept_values_against_the_last_evaluation(tmp_path: Path) -> None:
    for job, patch in enumerate([1, 16, 70]):
        evals = [{"step": 5, "eval/l1": 0.5, "eval/ssim": 0.1}, {"step": 10, "eval/l1": 0.1 * (job + 1), "eval/ssim": 0.3 + job / 10}]
        _fake_run(
            tmp_path / str(job),
            ["model=pix2pix", f"model.patch_size={patch}", "hydra.run.dir=x"],
            evals,
            {"step": 10, "seconds": 12.0, "metrics": {"loss/d": 1.0}},
        )
    (tmp_path / "not_a_run").mkdir()
    report = sweep_report(tmp_path)
    assert [r.folder.name for r in report.rows] == ["0", "1", "2"]
    assert report.swept == ["model.patch_size"] and report.common == {"model": "pix2pix"}
    assert report.metrics == ["eval/l1", "eval/ssim"]  # held-out numbers win over training scalars
    assert [report.cells(r) for r in report.rows] == [
        ["0", "1", "10", "0.1", "0.3", "12"],
        ["1", "16", "10", "0.2", "0.4", "12"],
        ["2", "70", "10", "0.3", "0.5", "12"],
    ]
    md, csv_path = write_report(report)
    assert md.read_text().splitlines()[0] == "| run | model.patch_size | step | eval/l1 | eval/ssim | time (s) |"
    rows = list(csv.reader(csv_path.open()))
    assert rows[0] == ["run", "model.patch_size", "step", "eval/l1", "eval/ssim", "time (s)"]
    assert [float(v) for v in rows[3][3:5]] == pytest.approx([0.3, 0.5])
    plot = plot_report(report, "eval/ssim")
    assert plot == tmp_path / "report.png" and Image.open(plot).size[0] > 0
    with pytest.raises(ConfigError, match="metric=eval/fid is not in this sweep's table: choose one of eval/l1, eval/ssim"):
        plot_report(report, "eval/fid")
    only = sweep_report(tmp_path)
    only.rows, only.swept = only.rows[:1], []
    assert plot_report(only) is None  # nothing swept: nothing to plot against


def test_runs_without_evaluations_report_their_last_training_scalars(tmp_path: Path) -> None:
    for job, k in enumerate([1, 5]):
        _fake_run(
            tmp_path / str(job),
            [f"train.k={k}"],
            None,
            {"step": 7, "seconds": 3.0, "metrics": {"loss/d": 0.5 + job, "d/real": 0.6, "perf/steps_per_s": 9.0}},
        )
    _fake_run(tmp_path / "2", ["train.k=9"], None, None)  # crashed before its summary: shown, with dashes
    report = sweep_report(tmp_path)
    assert report.metrics == ["loss/d", "d/real"]
    assert [report.cells(r) for r in report.rows] == [
        ["0", "1", "7", "0.5", "0.6", "3"],
        ["1", "5", "7", "1.5", "0.6", "3"],
        ["2", "9", "-", "-", "-", "-"],
    ]
    assert read_run(tmp_path / "not_there") is None


def test_a_sweep_prints_and_writes_its_report_and_task_report_repeats_it(tmp_path: Path) -> None:
    result = run_cli(
        "-m", *TINY_GAN, "train.steps=2", "train.log_every=1", "device=cpu", "train.k=1,3", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "report: sweep/report.md" in result.stdout and "loss/d against train.k: sweep/report.png" in result.stdout
    lines = (tmp_path / "sweep" / "report.md").read_text().splitlines()
    assert lines[0].startswith("| run | train.k | step | loss/d | loss/g |")
    assert lines[2].startswith("| 0 | 1 | 2 |") and lines[3].startswith("| 1 | 3 | 2 |")
    (tmp_path / "sweep" / "report.md").unlink()
    again = run_cli("task=report", "sweep=sweep", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "sweep" / "report.md").read_text().splitlines() == lines
    assert not (tmp_path / "sweep" / ".hydra").exists() and not (tmp_path / "outputs").exists()
    assert "sweep=nowhere is not a folder" in _one_error_line(run_cli("task=report", "sweep=nowhere", cwd=tmp_path))
    assert "metric=eval/fid is not in this sweep's table" in _one_error_line(
        run_cli("task=report", "sweep=sweep", "metric=eval/fid", cwd=tmp_path)
    )
    assert not (tmp_path / "nowhere").exists()


def test_slerp_and_lerp_end_at_the_two_latents() -> None:
    from gantrain.tasks import lerp, slerp

    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 16, generator=g), torch.randn(3, 16, generator=g)
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)  # same norms: slerp keeps them
    t = torch.linspace(0, 1, 5)
    for walk in (slerp(z0, z1, t), lerp(z0, z1, t)):
        assert walk.shape == (3, 5, 16)
        assert torch.allclose(walk[:, 0], z0, atol=1e-5) and torch.allclose(walk[:, -1], z1, atol=1e-5)
    assert torch.allclose(slerp(z0, z1, t).norm(dim=2), z0.norm(dim=1, keepdim=True).expand(3, 5), atol=1e-4)
    assert (lerp(z0, z1, t).norm(dim=2)[:, 2] < z0.norm(dim=1) - 1e-3).all()  # lerp's midpoint cuts inside the sphere
    half = slerp(z0, z1, torch.tensor([0.5]))[:, 0]
    assert torch.allclose(torch.cosine_similarity(half, z0, dim=1), torch.cosine_similarity(half, z1, dim=1), atol=1e-5)
    same = slerp(z0, z0.clone(), t)  # parallel: no division by sin(0)
    assert torch.isfinite(same).all() and torch.allclose(same, z0.unsqueeze(1).expand(3, 5, 16), atol=1e-5)


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("cgan")
    args = [
        "model=cgan",
        "model.generator.hidden=[32]",
        "model.discriminator.hidden=[16]",
        "train.batch_size=16",
        "train.steps=2",
        "device=cpu",
    ]
    result = run_cli(*args, "hydra.run.dir=run", cwd=where)
    assert result.returncode == 0, result.stderr[-2000:]
    return where / "run"


def test_sample_writes_a_grid_and_the_images_a_rerun_repeats(cgan_run: Path) -> None:
    from gantrain.core.priors import LatentPrior
    from gantrain.tasks import generate_images

    result = run_cli("task=sample", f"run={cgan_run}", "n=20", "npy=true", "seed=5", cwd=cgan_run.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    images = np.load(task_file(cgan_run / "sample", "samples_n20_seed5.npy"))
    assert images.shape == (20, 1, 28, 28) and images.dtype == np.uint8
    grid = Image.open(task_file(cgan_run / "sample", "samples_n20_seed5.png"))
    assert grid.size == (2 * 28 + 3 * 2, 10 * 28 + 11 * 2)  # one row per class, 2 per row
    device = resolve_device("auto")  # the task ran where device=auto put it: a GPU's arithmetic differs in the last bits
    trained = load_run(cgan_run, device)
    latent, _ = LatentPrior(100, "uniform", 10).grid(20, device=device, generator=torch.Generator().manual_seed(5))
    assert latent.y.tolist() == [c for c in range(10) for _ in range(2)]
    assert np.array_equal(generate_images(trained.G, latent).numpy(), images)


def test_interpolate_walks_one_row_per_pair(cgan_run: Path) -> None:
    result = run_cli("task=interpolate", f"run={cgan_run}", "n=3", "length=6", "mode=lerp", cwd=cgan_run.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    grid = Image.open(task_file(cgan_run / "interpolate", "lerp_n3_seed0.png"))
    assert grid.size == (6 * 28 + 7 * 2, 3 * 28 + 4 * 2)
    from gantrain.tasks import interpolate, sample

    for kwargs, expected in (
        ({"mode": "cubic"}, "mode must be lerp, slerp or traverse"),
        ({"length": 1}, "length must be an integer >= 2"),
    ):
        with pytest.raises(ConfigError, match=expected):
            interpolate(cgan_run, cgan_run / "interpolate", **kwargs)
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        sample(cgan_run, cgan_run / "sample", n=0)
    assert sorted(p.name for p in (cgan_run / "interpolate").iterdir()) == [task_file(cgan_run / "interpolate", "lerp_n3_seed0.png").name]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(cgan_run / "tb"))
    events.Reload()
    assert {"task/lerp", "samples"} <= set(events.Tags()["images"])  # beside the training grids


def test_sampling_a_translation_run_says_to_translate(pix2pix_run: Path) -> None:
    line = _one_error_line(run_cli("task=sample", f"run={pix2pix_run}", cwd=pix2pix_run.parent))
    assert "has no latent space (a translation run): use task=translate" in line
    assert not (pix2pix_run / "sample").exists()


def test_parse_expression_groups_indices_by_sign() -> None:
    from gantrain.tasks import parse_expression

    assert parse_expression("3 7 12 - 1 4 5 + 9 10 11", 64) == [(1, [3, 7, 12]), (-1, [1, 4, 5]), (1, [9, 10, 11])]
    assert parse_expression("3-1+9", 10) == [(1, [3]), (-1, [1]), (1, [9])]
    for bad, why in (
        ("3 64", "'64' is not a sample index from 0 to 63"),
        ("- 3", "an operator with no indices"),
        ("3 +", "ends without"),
        ("3 x", "'x'"),
    ):
        with pytest.raises(ConfigError, match=why):
            parse_expression(bad, 64)


def test_arithmetic_draws_the_mean_z_of_each_group_and_their_sum(tmp_path: Path) -> None:
    from gantrain.core.priors import Latent

    assert run_cli(*TINY_GAN, "train.steps=2", "device=cpu", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    result = run_cli("task=arithmetic", "run=run", "expression=3 7 12 - 1 4 + 9", "n=16", "seed=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    grid = np.asarray(
        Image.open(task_file(tmp_path / "run" / "arithmetic", "arithmetic_n16_seed2_3-7-12_minus_1-4_plus_9.png")).convert("L")
    )
    assert grid.shape == (4 * 28 + 5 * 2, 8 * 28 + 9 * 2)  # a row per group, then the results; 8 columns
    cell = lambda row, col: grid[2 + row * 30 : 2 + row * 30 + 28, 2 + col * 30 : 2 + col * 30 + 28]  # noqa: E731
    trained = load_run(tmp_path / "run", torch.device("cpu"))
    z, _ = LatentPrior(100, "uniform").grid(16, device=torch.device("cpu"), generator=torch.Generator().manual_seed(2))
    mean = lambda idx: z.z[idx].mean(0)  # noqa: E731
    want = generate_images(trained.G, Latent(torch.stack([mean([3, 7, 12]), mean([3, 7, 12]) - mean([1, 4]) + mean([9])])))
    assert np.array_equal(cell(0, 7), want[0, 0].numpy())  # group 1's mean z, in its row's last column
    assert np.array_equal(cell(3, 0), want[1, 0].numpy())  # the result, first in the last row
    cgan = run_cli(
        "model=cgan",
        "model.generator.hidden=[8]",
        "model.discriminator.hidden=[8]",
        "train.steps=1",
        "device=cpu",
        "hydra.run.dir=cgan",
        cwd=tmp_path,
    )
    assert cgan.returncode == 0
    assert "unconditional generator" in _one_error_line(run_cli("task=arithmetic", "run=cgan", "expression=1", cwd=tmp_path))
    assert "needs expression=" in _one_error_line(run_cli("task=arithmetic", "run=run", cwd=tmp_path))


SEMI = ["train.batch_size=20", "train.steps=4", "eval.every=2", "train.log_every=2", "device=cpu", "hydra.run.dir=run"]


@pytest.fixture(scope="module")
def sgan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four steps of SGAN on the bundled MNIST, 3 labels per class, evaluated with a moving average of D."""
    where = tmp_path_factory.mktemp("sgan")
    args = [
        "model=sgan",
        "data.labeled_per_class=3",
        "data.label_seed=4",
        "eval.ema=0.5",
        "model.discriminator.hidden=[32,16]",
        "model.generator.hidden=[32]",
        *SEMI,
    ]
    result = run_cli(*args, cwd=where)
    assert result.returncode == 0, result.stderr[-2000:]
    return where / "run"


def _last_metrics(run: Path) -> dict:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])


def test_confusion_scores_d_as_the_run_did_and_draws_its_mistakes_and_labels(sgan_run: Path) -> None:
    from gantrain.data.base import balanced_subset
    from gantrain.data.mnist import MNIST

    result = run_cli("task=confusion", f"run={sgan_run}", "n=5", cwd=sgan_run.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((sgan_run / "confusion" / "confusion_step4.json").read_text())
    counts = torch.tensor(record["counts"])  # (true class, D's output)
    test = MNIST(split="test")
    assert counts.shape == (10, 10) and counts.sum() == len(test)
    assert counts.sum(dim=1).tolist() == torch.bincount(test.labels, minlength=10).tolist()
    error = 1 - counts.trace().item() / len(test)
    assert record["eval/test_error"] == pytest.approx(error)
    # the moving average that the run's evaluation scored, not the live D (which it logged beside it)
    logged = _last_metrics(sgan_run)
    assert record["eval/test_error"] == pytest.approx(logged["eval/test_error"], abs=1e-6)
    assert "moving average" in record["discriminator"] and f"{100 * error:.2f}%" in result.stdout
    mistakes = record["mistakes"]
    assert mistakes and [m["count"] for m in mistakes] == sorted((m["count"] for m in mistakes), reverse=True)
    for m in mistakes:
        assert m["class"] != m["output"] and m["count"] == counts[m["class"], m["output"]]
        assert len(m["test_indices"]) == min(5, m["count"])
        assert all(test.labels[i] == m["class"] for i in m["test_indices"])
    assert f"{mistakes[0]['class']} as {mistakes[0]['output']}: {mistakes[0]['count']}" in result.stdout
    rows = min(4, len(mistakes))
    from gantrain.tasks import CAPTION_WIDTH

    # a row of 5 digits per mistake, each row's caption ("7 as 2: 132") to its left
    assert Image.open(sgan_run / "confusion" / "mistakes_step4.png").size == (CAPTION_WIDTH + 5 * 30 + 2, rows * 30 + 2)
    # the labelled images are the run's own subset (data.label_seed=4), one row of 3 per class
    train = MNIST()
    assert record["labelled_indices"] == balanced_subset(train.labels, 3, 10, 4).tolist()
    assert Image.open(sgan_run / "confusion" / "labelled.png").size == (3 * 30 + 2, 10 * 30 + 2)
    assert Image.open(sgan_run / "confusion" / "confusion_step4.png").mode in ("RGB", "RGBA")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(sgan_run / "tb"))
    events.Reload()
    assert {"task/confusion", "task/mistakes", "task/labelled"} <= set(events.Tags()["images"])


def test_confusion_of_clusters_matches_them_to_classes_first(tmp_path: Path) -> None:
    args = ["model=catgan", "data.labeled_per_class=0", "model.generator.width=8", "model.discriminator.width=8", *SEMI]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    run = tmp_path / "run"
    from gantrain.tasks import confusion

    confused = confusion(run, tmp_path / "out", n=3)
    assert confused.metric == "eval/cluster_error" and confused.labelled == 0
    assert sorted(confused.assigned) == list(range(10))  # one-to-one: each output stands for one class
    right = sum(int(confused.counts[c, k]) for k, c in enumerate(confused.assigned))
    assert confused.error == pytest.approx(1 - right / confused.counts.sum().item())
    assert confused.error == pytest.approx(_last_metrics(run)["eval/cluster_error"], abs=1e-6)
    assert all(confused.assigned[m.output] != m.true for m in confused.mistakes)
    assert not (tmp_path / "out" / "labelled.png").exists()  # nothing was labelled


def test_confusion_of_a_real_vs_fake_discriminator_says_what_it_needs(cgan_run: Path) -> None:
    line = _one_error_line(run_cli("task=confusion", f"run={cgan_run}", cwd=cgan_run.parent))
    assert "task=confusion reads a classifier discriminator's classes (model=sgan, model=catgan)" in line
    assert not (cgan_run / "confusion").exists()
    line = _one_error_line(run_cli("task=confusion", f"run={cgan_run}", "n=0", cwd=cgan_run.parent))
    assert "n must be an integer >= 1" in line


def test_a_task_started_elsewhere_finds_the_data_of_a_relative_data_root(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    _digit_folder(tmp_path / "project" / "digits")
    args = [
        "model=gan",
        "data=folder",
        "data.root=digits",
        "model.generator.hidden=[16]",
        "model.discriminator.hidden=[16]",
        "train.batch_size=4",
        "train.steps=2",
        "device=cpu",
        "hydra.run.dir=run",
    ]
    assert run_cli(*args, cwd=tmp_path / "project").returncode == 0
    (tmp_path / "elsewhere").mkdir()
    run = tmp_path / "project" / "run"
    result = run_cli("task=nearest", f"run={run}", "n=2", "neighbours=1", cwd=tmp_path / "elsewhere")
    assert result.returncode == 0, result.stdout + result.stderr  # it read the 10 digits of project/digits
    record = json.loads((task_file(run / "nearest", "nearest_n2_seed0.json")).read_text())
    assert record["pool"] == 10
    assert load_run(run, torch.device("cpu")).config.data.root == str(tmp_path / "project" / "digits")
