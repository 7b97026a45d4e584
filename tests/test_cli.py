"""The `gantrain` command as a user runs it: a real run, resume, a sweep, help, and each bad input
failing with one clear line before any work, leaving nothing behind."""

import math
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_GAN, run_cli, scalars

from gantrain.training.checkpoint import load_checkpoint

FAST = [*TINY_GAN, "train.log_every=2", "train.sample_every=2", "train.ckpt_every=2", "device=cpu"]


def _error_line(result) -> str:
    out = (result.stdout + result.stderr).strip()
    lines = [line for line in out.splitlines() if line.strip()]
    assert result.returncode != 0, out
    assert "Traceback" not in out, out
    assert len(lines) == 1, out
    assert lines[0].startswith("error:"), out
    return lines[0]


BAD_INPUTS = {
    "unknown key": (["train.kk=3"], "unknown config key 'train.kk'"),
    "unknown model": (["model=stylegan"], "unknown model 'stylegan': choose one of"),
    "k below 1": (["train.k=0"], "train.k must be an integer >= 1"),
    "k not a number": (["train.k=abc"], "train.k"),
    "negative learning rate": (["optim.lr=-1e-4"], "optim.lr must be > 0"),
    "image size DCGAN cannot build": (["data.image_size=30"], "DCGAN cannot build image_size=30"),
    "LSUN without root": (["data=lsun"], "data=lsun needs data.root"),
    "missing MNIST files": (["data.root=/nonexistent/mnist"], "train-images-idx3-ubyte"),
    "unknown device": (["device=tpu"], "unknown device 'tpu'"),
    "resume from nowhere": (["train.resume=/nonexistent/run"], "no such run folder or checkpoint"),
    "unexpected model argument": (["+model.generator.depth=3"], "unexpected keyword argument 'depth'"),
    "more labels than a class holds": (["model=sgan", "data.labeled_per_class=401"], "class 0 has only 400"),
    "patch size no PatchGAN has": (["model=pix2pix", "model.patch_size=50"], "model.patch_size=50 is not a receptive field"),
    "patch size too big for the image": (["model=pix2pix", "model.patch_size=286"], "choose one of 1, 16, 34, 70"),
    "misspelt direction": (["model=pix2pix", "data=paired", "data.root=.", "data.direction=AtoC"], "data.direction must be AtoB or BtoA"),
    "image size the U-Net cannot halve": (["model=pix2pix", "data.image_size=48"], "must be a power of 2"),
    "paired data for a GAN": (
        ["model=dcgan", "data=edges2x"],
        "which model=pix2pix trains, but this loss trains a generator and a discriminator on one set of images",
    ),
    "paired data without root": (["model=pix2pix", "data=paired"], "data=paired needs data.root"),
    "nothing for G to learn": (["model=pix2pix", "loss.lambda_l1=0", "loss.gan_weight=0"], "leave G nothing to learn"),
    "labels from a data set without labels": (
        ["model=catgan", "data=folder", "data.root=.", "data.labeled_per_class=10"],
        "data=folder has no labels",
    ),
    "conditional GAN without every label": (
        ["model=cgan", "data.labeled_per_class=10"],
        "conditional GAN needs a label for every training image",
    ),
    "feature matching on a missing layer": (["model=sgan", "loss.layer=trunk"], "loss.layer='trunk' is not a layer"),
    "negative label count": (["model=sgan", "data.labeled_per_class=-1"], "data.labeled_per_class must be >= 0"),
    "fake class not a boolean": (["model=sgan", "model.discriminator.fake_class=maybe"], "fake_class must be true or false"),
    "EMA decay out of range": (["eval.ema=2"], "eval.ema must be in [0, 1)"),
    "negative batch-norm images": (["eval.bn_images=-1"], "eval.bn_images must be an integer >= 0"),
    "learning rate not a number": (["optim.lr=abc"], "optim.lr must be a number (got 'abc')"),
    "Adam epsilon zero": (["optim.eps=0"], "optim.eps must be > 0"),
    "more clusters than classes with labels": (
        ["model=catgan", "data.labeled_per_class=10", "model.num_classes=20"],
        "only without labels",
    ),
    "unknown cluster matching": (["eval.cluster_match=vote"], "eval.cluster_match must be one_to_one or majority (got 'vote')"),
    "CatGAN marginal weight not a number": (
        ["model=catgan", "loss.lambda_marginal=abc"],
        "loss.lambda_marginal must be a number >= 0 (got 'abc')",
    ),
    "unknown CatGAN balance term": (["model=catgan", "loss.marginal=kl"], "loss.marginal must be one of entropy, uniform_kl (got 'kl')"),
    "negative CatGAN marginal weight": (["model=catgan", "loss.lambda_marginal=-1"], "loss.lambda_marginal must be a number >= 0 (got -1)"),
    "CatGAN shift not whole pixels": (
        ["model=catgan", "loss.max_shift=1.5"],
        "loss.max_shift must be a whole number of pixels >= 0 (got 1.5)",
    ),
    "negative CatGAN consistency weight": (
        ["model=catgan", "loss.lambda_consistency=-1"],
        "loss.lambda_consistency must be a number >= 0 (got -1)",
    ),
    "negative evaluation interval": (["eval.every=-1"], "eval.every must be an integer >= 0"),
    "beta not a number": (["model=vae", "model.beta=abc"], "model.beta must be a number >= 0"),
    "one sample to score": (["eval.n=1"], "eval.n must be 0 (no sample scores) or an integer >= 2"),
    "unknown feature extractor": (["eval.extractor=clip"], "eval.extractor must be classifier, inception or none"),
    "batch size 0": (["train.batch_size=0"], "train.batch_size must be an integer >= 1"),
    "learning rate 0": (["optim.lr=0"], "optim.lr must be > 0"),
    "a switch that is not a boolean": (["train.compile=3"], "train.compile must be true or false (got 3)"),
    "unknown precision": (["train.precision=fp64"], "train.precision must be one of fp32, bf16, fp16"),
    "unknown NaN policy": (["train.nan_policy=ignore"], "train.nan_policy must be one of stop, rollback"),
    "rollback factor out of range": (["train.nan_lr_factor=2"], "train.nan_lr_factor must be in (0, 1)"),
    "SGAN without labels": (["model=sgan", "data.labeled_per_class=0"], "model=sgan's classifier needs labels"),
    "a loss the model cannot use": (["model=gan", "loss=catgan"], "loss=catgan needs a discriminator with K class outputs"),
    "a loss without what the model reads": (
        ["model=pix2pix", "loss=minimax"],
        "model=pix2pix reads loss.conditional, which loss=minimax does not have",
    ),
    "a GAN loss for the VAE": (["model=vae", "loss=minimax"], "model=vae trains with its own loss"),
    "unknown data error policy": (["data=folder", "data.root=.", "data.on_error=ignore"], "data.on_error must be skip or raise"),
    "a D setting that is not a number": (
        ["model=catgan", "model.discriminator.slope=abc"],
        "model.discriminator.slope must be a number >= 0",
    ),
    "negative noise in D": (
        ["model=sgan", "data.labeled_per_class=10", "model.discriminator.hidden_noise=-1"],
        "model.discriminator.hidden_noise must be a number >= 0",
    ),
    # a value of the wrong type, checked against the constructor's annotation, named by the key the user typed
    "latent size not a number": (["model.z_dim=abc"], "model.z_dim must be an integer (got 'abc')"),
    "width not an integer": (["model.generator.width=1.5"], "model.generator.width must be an integer (got 1.5)"),
    "image size not a number": (["data.image_size=abc"], "data.image_size must be an integer"),
    "dropout not a number": (["model=gan", "model.discriminator.dropout=yes"], "model.discriminator.dropout must be a number (got 'yes')"),
    "hidden sizes not a list": (["model=gan", "model.discriminator.hidden=abc"], "model.discriminator.hidden must be a list of integers"),
    "hidden sizes with a word": (["model=gan", "model.generator.hidden=[1,x]"], "model.generator.hidden must be a list of integers"),
    "report without a sweep": (["task=report"], "task=report needs sweep=FOLDER"),
    "slurm without slurm": (
        ["-m", "hydra/launcher=slurm", "train.k=1,2"],
        "hydra/launcher=slurm submits the jobs to SLURM, but this machine has no SLURM",
    ),
    "seed out of range": (["seed=99999999999999999999999"], "seed must be an integer from 0 to 2^63 - 1"),
    "batch norm over one image": (["model=sgan", "data.labeled_per_class=10", "train.batch_size=1"], "needs at least 2 images a batch"),
    # numbers that pass a range check (inf > 0) and would wreck the run at its first step
    "infinite learning rate": (["optim.lr=inf"], "optim.lr=inf: every number must be finite"),
    "a loss weight that is not a number": (["model=pix2pix", "loss.lambda_l1=nan"], "loss.lambda_l1=nan: every number must be finite"),
    "a number too large for a float": (["model=vae", "model.beta=1e400"], "model.beta=inf: every number must be finite"),
    "an infinite number in a list": (["model=gan", "model.generator.hidden=[64,inf]"], "model.generator.hidden[1]=inf"),
    # data of another kind than the objective trains on
    "unpaired domains for a GAN": (
        ["model=gan", "data=mnist_uci"],
        "two unpaired domains (data=unpaired, mnist_uci, mnist_mnistm), which model=cyclegan trains",
    ),
    "paired data for a VAE": (["model=vae", "data=edges2x"], "pairs of images (data=paired, edges2x), which model=pix2pix trains"),
    "unpaired domains for Pix2Pix": (
        ["model=pix2pix", "data=mnist_uci"],
        "model=pix2pix reads data.source_channels, which data=mnist_uci does not have",
    ),
    "a sweep over no values": (["-m", "train.k=range(5,1)"], "train.k=range(5,1) sweeps over no values"),
    "scoring more samples than memory holds": (["eval.n=2000000000"], "eval.n=2,000,000,000 needs about"),
    "a latent of no size": (["model.z_dim=0"], "model.z_dim must be at least 1"),
    "a data set too large for memory at its size": (["model=gan", "data.image_size=8192"], "data=mnist holds its"),
    "an unknown command-line flag": (["--steps", "10"], "unknown option --steps: gantrain takes key=value overrides"),
    "an integer key given a float": (["train.steps=1e30"], "train.steps must be an integer (got 1e30)"),
    "a seed that is a word": (["seed=abc"], "seed must be an integer (got abc)"),
    "a switch that is a word": (["train.compile=maybe"], "train.compile must be true or false (got maybe)"),
    "an override Hydra cannot parse": (["model.generator.hidden=[1,2"], "cannot read the override model.generator.hidden=[1,2"),
    "a required group removed": (["~model"], "~model removes the model group"),
    "a criterion the model cannot use": (
        ["model=sgan", "data.labeled_per_class=10", "loss=wgan_gp"],
        "loss=wgan_gp scores each image with one number, but this discriminator outputs 10 class logits",
    ),
    "a negative R1 weight": (["loss.r1_gamma=-1"], "loss.r1_gamma must be a number >= 0"),
    "a negative LeCam weight": (["loss.lecam=-1"], "loss.lecam must be a number >= 0"),
    "a LeCam weight for Pix2Pix that is not a number": (["model=pix2pix", "loss.lecam=much"], "loss.lecam must be a number >= 0"),
    "a negative gradient penalty": (["loss=wgan_gp", "loss.gp_lambda=-1"], "loss.gp_lambda must be a number >= 0"),
    "no metric to score": (["eval.n=100", "eval.metrics=[]"], "eval.metrics=[] names no metric"),
    "a metric named twice": (["eval.n=100", "eval.metrics=[fid,fid]"], "eval.metrics names fid more than once"),
    "a subset of no images": (["data.subset=0"], "data.subset must be an integer >= 1"),
    "a subset larger than the data": (["data.subset=99999"], "data.subset=99,999 is more than the 4,000 training images"),
    "a subset larger than a domain": (["model=cyclegan", "data.subset=99999"], "data.subset=99,999 is more than the"),
    "an ADA probability above 1": (["augment=ada", "augment.p=2"], "augment.p must be a probability in [0, 1] (got 2)"),
    "an ADA target of 0": (["augment=ada", "augment.target=0"], "augment.target must be in (0, 1]"),
    "an unknown DiffAugment policy": (["augment=diffaugment", "augment.policy=color,zoom"], "augment.policy: there is no policy 'zoom'"),
    "an augment key that augment=none has not": (["augment.p=2"], "unknown config key 'augment.p'"),
    "Inception weights a folder": (
        ["eval.extractor=inception", "eval.n=100", "eval.inception_weights=."],
        "eval.inception_weights=. is a folder",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_fails_with_one_line_before_any_work(name: str, workdir: Path) -> None:
    args, expected = BAD_INPUTS[name]
    result = run_cli(*args, "hydra.run.dir=run", cwd=workdir)
    line = _error_line(result)
    assert expected in line
    assert result.returncode == 2
    assert not (workdir / "run").exists()  # nothing written that looks like a result
    assert not (workdir / "outputs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu(workdir: Path) -> None:
    line = _error_line(run_cli("device=cuda", "hydra.run.dir=run", cwd=workdir))
    assert "no CUDA GPU" in line and "device=cpu" in line
    assert not (workdir / "run").exists()


def test_a_real_run_then_resume_continues_in_the_same_folder(workdir: Path) -> None:
    result = run_cli(*FAST, "train.steps=4", "hydra.run.dir=run", cwd=workdir, fresh=True)  # a new interpreter, once
    assert result.returncode == 0, result.stderr
    run = workdir / "run"
    assert (run / ".hydra" / "config.yaml").is_file()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "last.pt").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert "bundled" in result.stdout  # one line says the bundled subset is in use
    assert "run folder" in result.stdout and "gantrain: done" in result.stdout

    # a plain `train.resume=FOLDER` takes the run's own config (model=gan here, not the default dcgan)
    result = run_cli("train.resume=run", "train.steps=6", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "resumed from step 4" in result.stdout
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 6 and state["choices"]["model"] == "gan"
    assert (run / "samples" / "step_0000006.png").is_file()
    assert len(list((run / ".hydra").glob("resumed-*"))) == 1  # the original .hydra/config.yaml is kept
    assert not (workdir / "outputs").exists()  # no second run folder

    line = _error_line(run_cli("train.resume=run", "model=dcgan", cwd=workdir))
    assert "cannot change model when resuming" in line
    assert len(list((run / ".hydra").glob("resumed-*"))) == 1  # the failed attempt left no record


def test_resume_through_the_cli_equals_an_uninterrupted_run(workdir: Path) -> None:
    common = [*FAST, "seed=7"]
    assert run_cli(*common, "train.steps=6", "hydra.run.dir=straight", cwd=workdir).returncode == 0
    assert run_cli(*common, "train.steps=2", "hydra.run.dir=split", cwd=workdir).returncode == 0
    result = run_cli("train.resume=split/checkpoints/last.pt", "train.steps=6", cwd=workdir)
    assert result.returncode == 0, result.stderr
    a = load_checkpoint(workdir / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(workdir / "split" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6
    for net in ("generator", "discriminator"):
        for key in a["networks"][net]:
            assert torch.equal(a["networks"][net][key], b["networks"][net][key]), (net, key)


def test_multirun_sweeps_k_with_one_run_folder_per_value(workdir: Path) -> None:
    result = run_cli("-m", *FAST, "train.steps=2", "train.k=1,2,5", "hydra.sweep.dir=sweep", cwd=workdir)
    assert result.returncode == 0, result.stderr
    for job, k in enumerate([1, 2, 5]):
        state = load_checkpoint(workdir / "sweep" / str(job) / "checkpoints" / "last.pt")
        assert f"k: {k}" in state["config"]
        assert state["data"]["consumed"] == 2 * k  # k discriminator batches per generator step
    assert not (workdir / "outputs").exists()  # a sweep claims no single-run folder


def test_a_second_sweep_in_the_same_folder_gets_its_own(workdir: Path) -> None:
    # the default hydra.sweep.dir is multirun/DATE/TIME through this resolver: two sweeps started in the
    # same second name the same folder; here both name "sweep"
    claimed = "hydra.sweep.dir='${gantrain_sweep_dir:sweep,${hydra.mode}}'"  # (quoted: the override grammar)
    first = run_cli("-m", *FAST, "train.steps=2", "train.k=1,2", claimed, cwd=workdir)
    assert first.returncode == 0, first.stderr
    kept = (workdir / "sweep" / "1" / "checkpoints" / "last.pt").read_bytes()
    second = run_cli("-m", *FAST, "train.steps=2", "train.k=3,4", claimed, cwd=workdir)
    assert second.returncode == 0, second.stdout + second.stderr
    for job, k in enumerate([3, 4]):  # the second sweep's jobs, each in its own folder
        assert f"k: {k}" in load_checkpoint(workdir / "sweep-1" / str(job) / "checkpoints" / "last.pt")["config"]
    assert (workdir / "sweep" / "1" / "checkpoints" / "last.pt").read_bytes() == kept  # the first's untouched
    assert "sweep-1/report.md" in second.stdout


def test_a_single_run_claims_no_sweep_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gantrain.app.cli import _sweep_dir

    monkeypatch.chdir(tmp_path)
    assert _sweep_dir("multirun/D/T", "RunMode.RUN") == "multirun/D/T"  # (every run's config holds the key)
    assert not (tmp_path / "multirun").exists()


def test_help_lists_the_config_groups(workdir: Path) -> None:
    result = run_cli("--help", cwd=workdir)
    assert result.returncode == 0
    lines: dict[str, str] = {}
    for line in result.stdout.splitlines():  # the groups section comes before the config dump
        if ":" in line:
            lines.setdefault(line.split(":")[0], line)
    for group in ("model", "data", "loss", "optim"):
        options = sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
        assert lines[group] == f"{group}: {', '.join(options)}", result.stdout
    from gantrain.app.config import TASKS

    header = result.stdout.split("== Config groups")[0]
    for task in TASKS[1:]:  # (train is the default, shown by its own line)
        assert f"task={task}" in header, f"--help does not show task={task}"


def test_home_in_a_path_is_expanded(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "home" / "pics").mkdir(parents=True)
    from PIL import Image

    for i in range(20):
        Image.new("RGB", (40, 30), (i * 10, 50, 200)).save(workdir / "home" / "pics" / f"{i}.png")
    monkeypatch.setenv("HOME", str(workdir / "home"))
    result = run_cli(
        *FAST,
        "data=folder",
        "data.root=~/pics",
        "data.image_size=32",
        "train.steps=2",
        "train.num_workers=0",
        "hydra.run.dir=run",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (workdir / "run" / "samples" / "step_0000002.png").is_file()


def test_the_dcgan_lsun_recipe_trains_at_64_pixels_from_an_lmdb(workdir: Path) -> None:
    """`gantrain model=dcgan data=lsun data.root=...` on a small LMDB written in LSUN's layout."""
    import io

    import lmdb
    from PIL import Image

    (workdir / "lsun").mkdir()
    env = lmdb.open(str(workdir / "lsun" / "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(12):
            buffer = io.BytesIO()
            Image.new("RGB", (80 + i, 64), (20 * i, 100, 255 - 20 * i)).save(buffer, format="WEBP")
            txn.put(f"{i:040x}".encode(), buffer.getvalue())
    env.close()
    result = run_cli(
        "model=dcgan",
        "data=lsun",
        "data.root=lsun",
        "model.generator.width=4",
        "model.discriminator.width=4",
        "train.batch_size=4",
        "train.steps=2",
        "train.log_every=1",
        "train.num_workers=1",
        "device=cpu",
        "hydra.run.dir=run",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LSUN bedroom_train: 12 images, 3x64x64" in result.stdout
    from PIL import Image as PILImage

    grid = PILImage.open(workdir / "run" / "samples" / "step_0000002.png")
    assert grid.size[0] > 64 * 7  # an 8x8 grid of 64-pixel images
    assert load_checkpoint(workdir / "run" / "checkpoints" / "last.pt")["step"] == 2


def test_errors_are_printed_on_one_line_even_when_a_library_message_spans_several(capsys: pytest.CaptureFixture) -> None:
    from gantrain.core.console import error

    error("could not download (Tried A, got:\n<urlopen error [Errno -2]>\nTried B\n); put the files there yourself")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: could not download")
    assert "[Errno -2]" in err  # brackets are text, not markup


SMALL = ["train.batch_size=20", "train.log_every=2", "train.sample_every=4", "train.ckpt_every=4", "eval.every=2", "device=cpu"]


@pytest.mark.parametrize(
    "name, args, metric",
    [
        (
            "sgan",
            ["model=sgan", "data.labeled_per_class=10", "model.discriminator.hidden=[32,16]", "model.generator.hidden=[32]"],
            "eval/test_error",
        ),
        (
            "catgan",
            ["model=catgan", "data.labeled_per_class=10", "model.generator.width=8", "model.discriminator.width=8"],
            "eval/test_error",
        ),
        (
            "catgan_unsupervised",
            ["model=catgan", "data.labeled_per_class=0", "model.generator.width=8", "model.discriminator.width=8"],
            "eval/cluster_error",
        ),
        (
            "catgan_20_clusters_no_shifts",
            [
                "model=catgan",
                "data.labeled_per_class=0",
                "model.num_classes=20",
                "eval.cluster_match=majority",
                "loss.lambda_consistency=0",
                "model.generator.width=8",
                "model.discriminator.width=8",
            ],
            "eval/cluster_error",
        ),
    ],
)
def test_semi_supervised_models_log_their_test_error(name: str, args: list[str], metric: str, workdir: Path) -> None:
    result = run_cli(*args, *SMALL, "train.steps=4", "hydra.run.dir=run", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    points = scalars(workdir / "run", metric)
    assert [s for s, _ in points] == [2, 4]
    assert all(0.0 <= v <= 1.0 for _, v in points)
    assert metric in result.stdout  # reported at the end too
    assert "gantrain task=confusion run=run" in result.stdout  # and where to see what D gets wrong
    other = "eval/cluster_error" if metric == "eval/test_error" else "eval/test_error"
    assert scalars(workdir / "run", other) == []
    if metric == "eval/cluster_error":  # the least used cluster's share of the test images, beside it
        assert [s for s, _ in scalars(workdir / "run", "eval/smallest_cluster")] == [2, 4]
        # and the label-free score on training images, by which the run keeps its best checkpoint
        scores = scalars(workdir / "run", "eval/mutual_information")
        assert [s for s, _ in scores] == [2, 4] and all(0.0 <= v <= math.log(10) + 1e-6 for _, v in scores)
        best_step = max(scores, key=lambda point: point[1])[0]
        assert load_checkpoint(workdir / "run" / "checkpoints" / "best.pt")["step"] == best_step
        assert f"step {best_step}: eval/mutual_information" in result.stdout  # the summary's best line
    else:  # with labels: best.pt by the held-out error (FID is not computed here)
        errors = scalars(workdir / "run", metric)
        best_step = min(errors, key=lambda point: point[1])[0]
        assert load_checkpoint(workdir / "run" / "checkpoints" / "best.pt")["step"] == best_step
        assert "best (eval/test_error)" in result.stdout
    # the shift-consistency term is logged when it is on (by default without labels), and only then
    shifts_on = "data.labeled_per_class=0" in args and "loss.lambda_consistency=0" not in args
    assert bool(scalars(workdir / "run", "catgan/consistency")) == shifts_on


def test_cgan_grid_has_one_row_per_class(workdir: Path) -> None:
    from PIL import Image

    result = run_cli(
        "model=cgan",
        "model.generator.hidden=[32]",
        "model.discriminator.hidden=[16]",
        *SMALL,
        "train.steps=2",
        "train.n_samples=30",
        "hydra.run.dir=run",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "task=confusion" not in result.stdout  # its D is told the class: there are no mistakes to show
    grid = Image.open(workdir / "run" / "samples" / "step_0000002.png")
    # 10 rows (classes) of 3 columns of 28-pixel digits with make_grid's 2-pixel padding
    assert grid.size == (3 * 30 + 2, 10 * 30 + 2)


def test_a_summary_shows_a_long_path_whole_on_a_narrow_terminal() -> None:
    from rich.console import Console

    from gantrain.core.console import summary_table

    path = "bench/results/sgan_cpu/sgan/seed1/confusion/mistakes_step78359.png"
    narrow = Console(width=50, record=True, color_system=None)
    narrow.print(summary_table("gantrain: confusion", {"mistakes.png": path}))
    rows = [line.split("│") for line in narrow.export_text().splitlines() if line.startswith("│")]
    assert len(rows) > 1 and "".join(row[2].strip() for row in rows) == path  # wrapped over lines, not cut


def test_the_readme_names_every_task_and_group_option() -> None:
    # the README's "What you can choose" table is where a user looks first: a new task or option must be there
    from gantrain.app.config import TASKS

    rows = {line.split("|")[1].strip(): line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")}
    for task in TASKS:
        assert f"`{task}`" in rows["`task`"], f"README's task row does not name {task}"
    for group in ("model", "data", "loss", "loss/criterion", "augment", "optim"):
        for option in sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml")):
            assert f"`{option}`" in rows[f"`{group}`"], f"README's {group} row does not name {option}"


def test_a_refused_run_never_removes_the_folders_above_its_own(tmp_path: Path) -> None:
    """A bad config started in an empty folder (hydra.run.dir=run inside it): the run's folder goes, the
    empty working folder and the empty folder above it stay (only folders this process made are removed)."""
    cwd = tmp_path / "empty" / "project"
    cwd.mkdir(parents=True)
    for args in (["optim.lr=-1", "hydra.run.dir=run"], ["optim.lr=-1", "hydra.run.dir=deeper/run"], ["optim.lr=-1"]):
        result = run_cli(*args, cwd=cwd)
        assert result.returncode == 2, result.stderr
        assert cwd.is_dir() and sorted(p.name for p in cwd.iterdir()) == [], (args, list(cwd.rglob("*")))


def test_a_time_limit_stops_the_run_with_a_checkpoint(tmp_path: Path) -> None:
    """train.time_limit: the run stops after that many seconds of training, checkpointed like a last step."""
    import json

    result = run_cli(*FAST, "train.steps=1000000", "train.time_limit=2", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 0 < summary["step"] < 1000000 and summary["seconds"] < 30
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == summary["step"]
    assert (tmp_path / "run" / "samples" / f"step_{summary['step']:07d}.png").is_file()
