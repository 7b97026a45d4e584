"""FID, KID, IS and class coverage (gantrain/metrics/fidelity.py) and task=eval on a trained run."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_GAN, run_cli, task_file

from gantrain.data.mnist import MNIST
from gantrain.metrics import classifier, extractor_cache, fidelity, inception, sample_metrics


@pytest.fixture(scope="module")
def digits() -> tuple[MNIST, MNIST]:
    return MNIST(None), MNIST(None, split="test")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, digits: tuple[MNIST, MNIST]) -> Path:
    """An extractor cache holding the bundled digits' classifier, trained briefly (the real recipe takes a minute)."""
    where = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANTRAIN_CACHE", str(where))
        mp.setattr(classifier, "TRAIN_STEPS", 300)
        train, test = digits
        found = extractor_cache.data_classifier("mnist", (train.images, train.labels), (test.images, test.labels), 10)
    assert found.trained_now and found.test_accuracy > 0.8  # 300 steps already separate most digits
    return where


def test_frechet_distance_is_zero_on_itself_and_grows_with_a_shift(digits: tuple[MNIST, MNIST]) -> None:
    torch.manual_seed(0)
    extractor = classifier.DataClassifier(1, 28, 10).eval()  # any fixed feature map has these properties
    real = digits[1].images[:400]
    fids = []
    for shift in (0, 40, 120):
        fake = (real.int() + shift).clamp(0, 255).to(torch.uint8)
        numbers, _ = fidelity.score(real, fake, metrics=[sample_metrics.FID()], classifier=extractor)
        fids.append(numbers["eval/fid"])
    assert abs(fids[0]) < 1e-3
    assert 0 < fids[1] < fids[2]


def test_the_extractor_is_cached_reused_and_retrained_for_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits: tuple[MNIST, MNIST]
) -> None:
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path))
    monkeypatch.setattr(classifier, "TRAIN_STEPS", 20)
    train, test = digits
    args = (train.images[:500], train.labels[:500]), (test.images[:100], test.labels[:100]), 10
    first = extractor_cache.data_classifier("mnist", *args)
    again = extractor_cache.data_classifier("mnist", *args)
    assert first.trained_now and not again.trained_now and again.path == first.path
    assert first.path.parent == tmp_path / "extractors"
    x = test.images[:8].float() / 127.5 - 1
    assert torch.equal(first.classifier.features(x), again.classifier.features(x))  # the same network back
    other = extractor_cache.data_classifier("mnist", (train.images[500:1000], train.labels[500:1000]), *args[1:])
    assert other.trained_now and other.path != first.path  # another data set: another file
    monkeypatch.setattr(classifier, "VERSION", classifier.VERSION + 1)
    newer = extractor_cache.data_classifier("mnist", *args)
    assert newer.trained_now and newer.path != first.path and f"-v{classifier.VERSION}-" in newer.path.name
    newer.path.write_bytes(b"damaged")  # a broken cache file is replaced, not fatal
    repaired = extractor_cache.data_classifier("mnist", *args)
    assert repaired.trained_now and torch.load(repaired.path, weights_only=True)["version"] == classifier.VERSION


_TRAIN_ONCE = """
import sys, torch
from gantrain.metrics import classifier, extractor_cache
classifier.TRAIN_STEPS = 300  # long enough that the second process asks while the first trains
g = torch.Generator().manual_seed(0)
images, labels = torch.randint(0, 256, (400, 1, 16, 16), generator=g, dtype=torch.uint8), torch.arange(400) % 10
found = extractor_cache.data_classifier("noise", (images, labels), (images[:50], labels[:50]), 10)
print("trained" if found.trained_now else "cached", found.path)
"""


def test_runs_started_together_train_the_classifier_once(tmp_path: Path) -> None:
    # the jobs of a sweep start at once and each needs the classifier: one trains it, the others wait and load it
    env = {**os.environ, "GANTRAIN_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    started = [
        subprocess.Popen([sys.executable, "-c", _TRAIN_ONCE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    said = [p.communicate(timeout=300) for p in started]
    assert all(p.returncode == 0 for p in started), [err[-1000:] for _, err in said]
    outcomes = sorted(out.split()[0] for out, _ in said)
    assert outcomes == ["cached", "cached", "trained"], said
    assert len({out.split()[1] for out, _ in said}) == 1
    assert [p.name for p in (tmp_path / "extractors").glob("*.pt")] == [Path(said[0][0].split()[1]).name]


def test_coverage_of_a_one_class_generator_is_one_class() -> None:
    uniform = torch.full((10,), 0.1)
    one_class = torch.nn.functional.one_hot(torch.full((500,), 3), 10).float() * 5
    assert sample_metrics.class_coverage(one_class, uniform) == {"eval/classes_covered": 1.0, "eval/class_kl": pytest.approx(math.log(10))}
    balanced = torch.nn.functional.one_hot(torch.arange(500) % 10, 10).float()
    assert sample_metrics.class_coverage(balanced, uniform) == {"eval/classes_covered": 10.0, "eval/class_kl": pytest.approx(0.0, abs=1e-6)}
    nearly = torch.nn.functional.one_hot(torch.cat([torch.arange(450) % 9, torch.full((2,), 9)]), 10).float()  # class 9: 2 of 452
    assert sample_metrics.class_coverage(nearly, uniform)["eval/classes_covered"] == 9.0  # under a tenth of its share


def test_scoring_copies_of_one_image_finds_one_class_and_an_inception_score_of_one(
    cache: Path, monkeypatch: pytest.MonkeyPatch, digits
) -> None:
    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))
    train, test = digits
    classifier = extractor_cache.data_classifier("mnist", (train.images, train.labels), (test.images, test.labels), 10)
    assert not classifier.trained_now
    collapsed = test.images[:1].repeat(300, 1, 1, 1)
    chosen = fidelity.default_metrics("classifier", sliced=False)  # (SWD's seconds of sorting: tests/test_swd.py)
    numbers, histogram = fidelity.score(test.images[:300], collapsed, metrics=chosen, classifier=classifier.classifier)
    assert numbers["eval/classes_covered"] == 1 and int(histogram.max()) == 300
    assert numbers["eval/is"] == pytest.approx(1.0, abs=1e-3)
    assert numbers["eval/recall"] < 0.05  # one point covers almost none of the real digits' manifold
    real_numbers, _ = fidelity.score(test.images[:300], train.images[::8], metrics=chosen, classifier=classifier.classifier)  # 50 a class
    assert real_numbers["eval/classes_covered"] == 10 and real_numbers["eval/is"] > 5
    assert real_numbers["eval/fid"] < numbers["eval/fid"] and real_numbers["eval/kid"] < numbers["eval/kid"]
    assert real_numbers["eval/precision"] > 0.3 and real_numbers["eval/recall"] > 0.3  # other real digits: largely inside, both ways


def test_task_eval_writes_metrics_a_class_chart_and_curves(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))
    trained = run_cli(*TINY_GAN, "train.steps=3", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    result = run_cli("task=eval", "run=run", "n=200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cached" in result.stdout  # the fixture's classifier, not a new one
    record = json.loads((task_file(tmp_path / "run" / "eval", "metrics_classifier_n200_seed0.json")).read_text())
    assert record["n_fake"] == 200 and record["n_real"] == 200 and record["step"] == 3
    assert record["eval/fid"] > 0 and record["eval/is"] >= 1 and 1 <= record["eval/classes_covered"] <= 10
    assert (task_file(tmp_path / "run" / "eval", "classes_n200_seed0.png")).is_file()
    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    assert {"eval/fid", "eval/kid", "eval/is", "eval/classes_covered"} <= set(events.Tags()["scalars"])
    assert "eval/class_histogram" in events.Tags()["images"]


def test_inception_without_its_weights_file_says_which_file(tmp_path: Path) -> None:
    result = run_cli(*TINY_GAN, "train.steps=1", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    from gantrain.core.errors import ConfigError
    from gantrain.tasks import evaluate_run

    failed = run_cli("task=eval", "run=run", "eval.extractor=inception", cwd=tmp_path)
    out = (failed.stdout + failed.stderr).strip()
    assert failed.returncode == 2 and len(out.splitlines()) == 1, out
    assert "needs its weights file pt_inception-2015-12-05-6726825d.pth" in out and inception.INCEPTION_URL in out
    garbage, other_net = tmp_path / "garbage.pth", tmp_path / "other.pth"
    garbage.write_bytes(bytes(range(256)) * 40)  # a download cut short, an HTML error page: not a torch file
    torch.save(torch.nn.Linear(2, 2).state_dict(), other_net)  # a real weights file, of another network
    for kwargs, expected in (
        ({"extractor": "inception", "inception_weights": "nope.pth"}, "eval.inception_weights=nope.pth does not exist"),
        ({"extractor": "inception", "inception_weights": str(tmp_path)}, "is a folder"),
        ({"extractor": "inception", "inception_weights": str(garbage)}, "is not the weights file pt_inception-2015-12-05-6726825d.pth"),
        ({"extractor": "inception", "inception_weights": str(other_net)}, "is not the weights file"),
        ({"extractor": "clip"}, "eval.extractor must be classifier, inception or none"),
        ({"n": 1}, "n must be an integer >= 2"),
    ):
        with pytest.raises(ConfigError, match=expected):
            evaluate_run(tmp_path / "run", tmp_path / "run" / "eval", **kwargs)
    assert not (tmp_path / "run" / "eval").exists()


@pytest.mark.slow  # Inception-v3 (24M parameters) built and run on a CPU; a bad weights file: test_cli.py's bad inputs
def test_the_inception_extractor_runs_from_a_local_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits) -> None:
    """With a weights file of the right layout (random weights here: the real file is not shipped), the
    Inception path scores grey digits without touching the network."""
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    with monkeypatch.context() as mp:  # build one Inception with random weights, to save its layout
        mp.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        mp.setattr(inception, "load_state_dict_from_url", lambda *a, **k: {})
        net = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), tmp_path / inception.INCEPTION_FILE)
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    test = digits[1]
    numbers, histogram = fidelity.score(
        test.images[:16], test.images[16:32], extractor="inception", inception_weights=str(tmp_path / inception.INCEPTION_FILE)
    )
    assert set(numbers) == {"eval/fid", "eval/kid", "eval/is", "eval/precision", "eval/recall"} and histogram is None
    assert all(math.isfinite(v) for v in numbers.values())


def test_nearest_indices_match_brute_force_across_chunks() -> None:
    from gantrain.tasks import _nearest_indices

    g = torch.Generator().manual_seed(0)
    queries, pool = torch.randn(5, 7, generator=g), torch.randn(50, 7, generator=g)
    distances, indices = _nearest_indices(queries, pool, k=3, chunk=8)  # 7 chunks to merge
    brute = torch.cdist(queries, pool).topk(3, dim=1, largest=False)
    assert torch.equal(indices, brute.indices) and torch.allclose(distances, brute.values)
    _, itself = _nearest_indices(pool[[4, 41]], pool, k=1, chunk=16)
    assert itself.flatten().tolist() == [4, 41]  # a training image's nearest is itself


def test_task_nearest_shows_pixel_and_feature_neighbours(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits) -> None:
    from PIL import Image

    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))
    assert run_cli(*TINY_GAN, "train.steps=2", "device=cpu", "hydra.run.dir=run", cwd=tmp_path).returncode == 0
    result = run_cli("task=nearest", "run=run", "n=4", "neighbours=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    grid = Image.open(task_file(tmp_path / "run" / "nearest", "nearest_n4_seed0.png"))
    assert grid.size == (5 * 28 + 6 * 2, 4 * 28 + 5 * 2)  # sample | 2 pixel | 2 feature neighbours, per row
    record = json.loads((task_file(tmp_path / "run" / "nearest", "nearest_n4_seed0.json")).read_text())
    assert record["pool"] == len(digits[0]) and "classifier" in record["feature"]["extractor"]
    for space in ("pixel", "feature"):
        for row in record[space]["distance"]:
            assert row == sorted(row)


def test_eval_n_scores_samples_during_training(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))
    result = run_cli(*TINY_GAN, "train.steps=4", "eval.every=2", "eval.n=100", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "eval.n=100: fid, kid, is, swd, prdc, classes every 2 steps" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    assert all(line["eval/fid"] > 0 and 1 <= line["eval/classes_covered"] <= 10 for line in lines)
    assert lines[0]["eval/fid"] != lines[1]["eval/fid"]  # G moved between the two evaluations


def test_each_batch_goes_through_the_extractor_once(digits: tuple[MNIST, MNIST], monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    extractor = classifier.DataClassifier(1, 28, 10).eval()
    seen: list[int] = []
    extractor.trunk.register_forward_hook(lambda _m, inputs, _o: seen.append(len(inputs[0])))
    real, fake = digits[1].images[:300], digits[0].images[:200]
    # sliced=False: every default but SWD (which reads the images, not the views; its seconds: tests/test_swd.py)
    scorer = fidelity.Scorer(real, classifier=extractor, batch_size=100, sliced=False)
    assert seen == [100, 100, 100]  # FID, KID and precision/recall share one pass per real batch (no real logits)
    seen.clear()
    torch.manual_seed(1)  # KID's subsets and IS's splits are random draws
    numbers, histogram = scorer(fake)
    # features (FID, KID, precision/recall) and logits (IS, coverage): one pass each per fake batch
    assert seen == [100, 100, 100, 100]
    assert histogram is not None and int(histogram.sum()) == 200
    # the same numbers as each metric alone (the random draws of KID, then IS, in the same order)
    torch.manual_seed(1)
    alone = {}
    for metric in (sample_metrics.FID(), sample_metrics.KID(), sample_metrics.IS(), sample_metrics.PRDC()):
        alone.update(fidelity.Scorer(real, metrics=[metric], classifier=extractor, batch_size=100)(fake)[0])
    alone.update(fidelity.Scorer(real, metrics=[sample_metrics.Classes()], classifier=extractor)(fake)[0])
    assert alone == pytest.approx(numbers, rel=1e-5, abs=1e-7)
    assert not any(key.startswith("eval/swd") for key in numbers)  # sliced=False (CycleGAN's scorer) leaves SWD out


def test_a_real_run_keeps_its_best_fid_as_best_pt_and_every_task_can_take_it(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short real run whose FID improves and then gets worse (lr 0.2 throws the tiny GAN about after a few
    steps; the CPU run repeats exactly): best.pt holds the evaluation with the lowest FID, the summary and
    the final table show the best and the last with their steps, tasks take checkpoint=best, and a resume
    still continues from last.pt."""
    from gantrain.training.checkpoint import load_checkpoint

    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))
    done = run_cli(
        *TINY_GAN,
        "train.steps=8",
        "optim.lr=0.2",
        "eval.every=1",
        "eval.n=100",
        "eval.metrics=[fid]",  # (by name: FID alone, eight times; the others' cost is theirs)
        "train.ckpt_every=4",
        "device=cpu",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    fids = [(line["step"], line["eval/fid"]) for line in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())]
    best_step, best_fid = min(fids, key=lambda point: point[1])
    assert 1 < best_step < 8 and fids[-1][1] > best_fid and fids[0][1] > best_fid, fids  # improving, then worse
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["step"] == best_step and best["best"]["eval/fid"] == pytest.approx(best_fid)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"]["by"] == "eval/fid" and summary["best"]["step"] == best_step
    assert summary["last"]["step"] == 8 and summary["last"]["eval/fid"] == pytest.approx(fids[-1][1])
    table = " ".join(done.stdout.split())
    assert (
        f"best (eval/fid) │ step {best_step}: eval/fid {best_fid:.4g}" in table
        and f"last evaluation │ step 8: eval/fid {fids[-1][1]:.4g}" in table
    ), table

    # every task on the run takes checkpoint=best: the generator of best.pt's step draws
    sampled = run_cli("task=sample", "run=run", "checkpoint=best", "n=4", "device=cpu", cwd=tmp_path)
    assert sampled.returncode == 0 and f"at step {best_step}" in sampled.stdout, sampled.stderr
    assert (tmp_path / "run" / "sample" / f"samples_step{best_step}_n4_seed0.png").is_file()
    scored = run_cli("task=eval", "run=run", "checkpoint=best", "n=100", "eval.metrics=[fid,kid]", "device=cpu", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-1500:]
    record = json.loads(next((tmp_path / "run" / "eval").glob(f"metrics_*step{best_step}*.json")).read_text())
    assert record["eval/fid"] > 0 and {key for key in record if key.startswith("eval/")} == {"eval/fid", "eval/kid"}
    # a checkpoint the run does not have, or one named twice: one line each
    missing = run_cli("task=sample", "run=run", "checkpoint=step_3", "device=cpu", cwd=tmp_path)
    assert (
        missing.returncode == 2
        and missing.stderr.count("\n") == 1
        and "has no checkpoints/step_3.pt; it has best, last, step_0000004" in missing.stderr
    ), missing.stderr
    twice = run_cli("task=sample", "run=run/checkpoints/last.pt", "checkpoint=best", "device=cpu", cwd=tmp_path)
    assert twice.returncode == 2 and "names a checkpoint file already" in twice.stderr, twice.stderr
    # a resume continues from last.pt (step 8), not from best.pt
    resumed = run_cli("train.resume=run", "train.steps=9", cwd=tmp_path)
    assert resumed.returncode == 0 and "resumed from step 8" in resumed.stdout, resumed.stderr[-1500:]


def test_checkpoint_best_on_a_run_that_evaluated_nothing_says_why(tmp_path: Path) -> None:
    done = run_cli(*TINY_GAN, "train.steps=2", "eval.every=0", "device=cpu", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    refused = run_cli("task=sample", "run=run", "checkpoint=best", "device=cpu", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "eval.every=N" in refused.stderr, refused.stderr
    assert not (tmp_path / "run" / "sample").exists()


@pytest.mark.slow  # two classifiers trained for real (37 s); tests/test_cyclegan.py runs the robust judges' code path
def test_the_robust_recipe_keeps_its_accuracy_on_shifted_and_zoomed_digits_where_the_plain_one_falls() -> None:
    """The UCI digits scikit-learn ships, as data=mnist_uci draws them: the plain classifier loses a good
    share of its held-out digits at a 2 px shift and most at a zoom of 0.8; the robust one (deformed
    training images) loses next to none, with no loss on the digits as they are."""
    from gantrain.data.unpaired import _digits_uci

    train, labels = _digits_uci("train", 32, 1)
    test, test_labels = _digits_uci("test", 32, 1)
    plain = classifier.robustness(classifier.train_classifier(train, labels, 10, steps=200), test, test_labels)
    robust = classifier.robustness(classifier.train_classifier(train, labels, 10, steps=400, augment=True), test, test_labels)
    assert set(plain) == set(robust) == {"clean", "shifted", "zoom_0.8", "zoom_1.2"}
    assert plain["shifted"] < plain["clean"] - 0.1 and plain["zoom_0.8"] < plain["clean"] - 0.3, plain
    assert robust["clean"] >= 0.9 and min(robust.values()) >= robust["clean"] - 0.05, robust
    assert robust["clean"] >= plain["clean"] - 0.02


def test_transformed_moves_and_zooms_the_content_and_is_the_identity_at_rest() -> None:
    images = torch.zeros(2, 1, 9, 9, dtype=torch.uint8)
    images[:, 0, 4, 4] = 200  # one bright pixel at the centre
    assert torch.equal(classifier.transformed(images), images)
    moved = classifier.transformed(images, shift=(2.0, -1.0))  # 2 px right, 1 px up
    assert [tuple(p) for p in (moved[0, 0] > 0).nonzero().tolist()] == [(3, 6)]
    images[:, 0, 4, 6] = 200  # a second pixel 2 px right of the centre: zoomed by 1.5 it lies 3 px away
    zoomed = classifier.transformed(images, zoom=1.5)
    assert zoomed[0, 0, 4, 7] > 100 and zoomed[0, 0, 4, 6] < zoomed[0, 0, 4, 7] and zoomed[0, 0, 4, 4] > 100


def _write_pngs(folder: Path, images: torch.Tensor) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        array = image.permute(1, 2, 0).squeeze(-1).numpy()
        Image.fromarray(array).save(folder / f"{i:04d}.png")


def test_task_eval_compares_two_folders(cache: Path, digits: tuple[MNIST, MNIST], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRAIN_CACHE", str(cache))  # the bundled digits' classifier (data=mnist, the default)
    order = torch.randperm(len(digits[1].images), generator=torch.Generator().manual_seed(1))
    test = digits[1].images[order]
    _write_pngs(tmp_path / "real", test[:150])
    _write_pngs(tmp_path / "more" / "digits", test[150:300])  # searched recursively
    noise = torch.randint(0, 256, (150, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    _write_pngs(tmp_path / "noise", noise)

    def scored(fake: str, *extra: str) -> dict:
        out = f"out_{fake}_{len(extra)}"
        done = run_cli("task=eval", "real=real", f"fake={fake}", f"output={out}", "device=cpu", *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        (found,) = (tmp_path / out).glob("metrics_folders_*.json")
        return json.loads(found.read_text())

    same, other = scored("more"), scored("noise")
    assert same["n_real"] == 150 and same["n_fake"] == 150 and same["image_shape"] == [1, 28, 28]
    assert "mnist classifier" in same["extractor"]
    # other digits from the same split are close; noise is far, and covers little of the digits' manifold
    assert same["eval/fid"] < 0.2 * other["eval/fid"], (same["eval/fid"], other["eval/fid"])
    assert same["eval/precision"] > 0.8 and same["eval/coverage"] > other["eval/coverage"] + 0.3, (same, other)
    assert same["eval/swd"] < other["eval/swd"]
    # chosen by name: only those numbers
    chosen = scored("noise", "eval.metrics=[fid,prdc]", "n=100")
    assert {k for k in chosen if k.startswith("eval/")} == {"eval/fid", "eval/precision", "eval/recall", "eval/density", "eval/coverage"}
    assert chosen["n_real"] == chosen["n_fake"] == 100


@pytest.mark.parametrize(
    "args, said",
    [
        (["real=real"], "pass both real=DIR and fake=DIR (no fake=)"),
        (["real=real", "fake=nowhere"], "fake=nowhere does not exist"),
        (["real=real", "fake=colour"], "fake=colour holds colour images, and the MNIST classifier"),
        (["real=real", "fake=real", "run=real"], "task=eval takes run=RUN (a trained run's samples) or real=DIR fake=DIR"),
        (["real=real", "fake=real", "eval.metrics=[fid]", "eval.extractor=none"], "fid needs an extractor's features"),
        (["real=real/0000.png", "fake=real"], "real=real/0000.png is not a folder"),
        (["real=real", "fake=empty"], "no images (.png"),
        (["real=real", "fake=empty", "eval.extractor=none"], "no images (.png"),
        (["real=real", "fake=real", "eval.metrics=[]"], "eval.metrics=[] names no metric"),
        (["real=real", "fake=real", "n=1"], "n must be an integer >= 2"),
    ],
)
def test_bad_folder_evaluations_are_one_line(args: list[str], said: str, tmp_path: Path) -> None:
    _write_pngs(tmp_path / "real", torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    _write_pngs(tmp_path / "colour", torch.zeros(3, 3, 8, 8, dtype=torch.uint8))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    done = run_cli("task=eval", *args, "device=cpu", cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and said in lines[0], lines
    assert not (tmp_path / "outputs").exists()  # nothing left behind
