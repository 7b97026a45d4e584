"""data=unpaired, CycleGAN's data (Zhu et al. 2017): the built-in MNIST <-> UCI digits task, the
trainA/trainB/testA/testB folder layout with mixed formats, sizes and modes, direction, the two sides'
independent orders, exact resumption of the stream (jitter included), and each bad input's message."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gantrain.core.errors import ConfigError, DataError
from gantrain.data.mnist import load_bundled
from gantrain.data.unpaired import UnpairedImages, jitter, mnist_m, mnist_mnistm, mnist_uci, textures, uci_split, unpaired
from gantrain.training.setup import build_data

CPU = torch.device("cpu")
CONF = Path(__file__).resolve().parents[1] / "conf" / "data"


@pytest.fixture(scope="module")
def builtin() -> tuple[UnpairedImages, UnpairedImages]:
    return mnist_uci(), mnist_uci(split="test")


def _image_set(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def test_builtin_task_sizes_labels_and_values(builtin) -> None:
    train, test = builtin
    assert (len(train.images_a), len(train.images_b), len(train)) == (4000, 1438, 4000)  # an epoch: max(|A|, |B|)
    assert (len(test.images_a), len(test.images_b)) == (1000, 359)  # 1,797 UCI digits in all
    for data in (train, test):
        assert data.images_a.shape[1:] == data.images_b.shape[1:] == (1, 32, 32)
        assert (data.channels, data.channels_b, data.image_size, data.num_classes) == (1, 1, 32, None)
        assert not data.has_labels  # training sees no label ...
        for images, labels in ((data.images_a, data.labels_a), (data.images_b, data.labels_b)):
            assert labels.dtype == torch.int64 and labels.shape == (len(images),)  # ... evaluation does
            assert set(labels.tolist()) == set(range(10))
            assert images.dtype == torch.uint8 and images.max() == 255 and images.min() == 0  # UCI's 16 ink -> 255
    assert "MNIST" in train.notice and "UCI" in train.notice and "\n" not in train.notice
    assert "4,000 A / 1,438 B train" in train.describe()
    batch = next(train.stream(16, seed=0, device=CPU))
    assert batch.x.shape == batch.x_b.shape == (16, 1, 32, 32) and batch.y is None
    for x in (batch.x, batch.x_b):
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


def test_builtin_test_splits_are_disjoint_from_train_fixed_and_stratified(builtin) -> None:
    train, test = builtin
    assert not _image_set(train.images_a) & _image_set(test.images_a)
    assert not _image_set(train.images_b) & _image_set(test.images_b)
    again = mnist_uci(split="test")  # no seed to pass: the split is the same for every run
    assert torch.equal(again.images_b, test.images_b) and torch.equal(again.labels_b, test.labels_b)
    assert torch.equal(again.images_a, test.images_a)
    per_class = torch.bincount(test.labels_b, minlength=10)
    totals = per_class + torch.bincount(train.labels_b, minlength=10)
    assert ((per_class.double() / totals).sub(0.2).abs() < 0.01).all()  # ~20% of every class
    targets = np.repeat(np.arange(10), 20)
    assert np.array_equal(uci_split(targets), uci_split(targets)) and len(uci_split(targets)) == 40


def _write(path: Path, size: tuple[int, int], mode: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


@pytest.fixture
def horses(tmp_path: Path) -> Path:
    """A tiny unpaired data set: 5 A images and 3 B images for training, 2 and 1 held out; PNG and JPEG,
    grey and colour, different sizes, on both sides."""
    root = tmp_path / "horse2zebra"
    specs = {
        "trainA": [
            ("a0.png", (40, 30), "L"),
            ("a1.jpg", (50, 50), "RGB"),
            ("a2.png", (20, 24), "RGB"),
            ("sub/a3.jpeg", (64, 48), "L"),
            ("a4.PNG", (33, 33), "RGB"),
        ],
        "trainB": [("b0.jpg", (30, 40), "L"), ("b1.png", (48, 64), "RGB"), ("b2.jpg", (16, 16), "RGB")],
        "testA": [("t0.png", (40, 40), "RGB"), ("t1.jpg", (25, 30), "L")],
        "testB": [("u0.png", (60, 20), "L")],
    }
    for i, (folder, files) in enumerate(specs.items()):
        for j, (name, size, mode) in enumerate(files):
            _write(root / folder / name, size, mode, seed=10 * i + j)
    (root / "trainA" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_layout_reads_every_format_size_and_mode(horses: Path, channels: int) -> None:
    data = unpaired(str(horses), image_size=16, load_size=20, channels=channels, flip=True)
    assert (len(data.images_a), len(data.images_b), len(data)) == (5, 3, 5)
    assert (data.channels, data.channels_b, data.labels_a, data.labels_b) == (channels, channels, None, None)
    for i in range(5):
        a, b = data[i]  # a view: resized to image_size, no jitter
        assert a.shape == b.shape == (channels, 16, 16) and a.dtype == torch.uint8
    assert data.images_a[0].shape == (channels, 20, 20)  # held at load_size, for the crop
    assert "trainA" in data.describe() and "trainB" in data.describe() and "cropped to 16" in data.describe()
    test = unpaired(str(horses), split="test", image_size=16, load_size=20, channels=channels, flip=True)
    assert (len(test.images_a), len(test.images_b), test.load_size, test.flip) == (2, 1, 16, False)  # no jitter
    batch = next(data.stream(2, seed=0, device=CPU))
    assert batch.x.shape == batch.x_b.shape == (2, channels, 16, 16)
    if channels == 3:
        assert "domain A" in data.notice and "grey" in data.notice  # a0.png is grey, converted to RGB
    else:
        assert data.notice is None


def test_direction_swaps_the_sides(horses: Path, builtin) -> None:
    ab = unpaired(str(horses), image_size=16, load_size=16)
    ba = unpaired(str(horses), image_size=16, load_size=16, direction="BtoA")
    assert (len(ba.images_a), len(ba.images_b), ba.names) == (3, 5, ("B", "A"))
    assert torch.equal(ba.image_a(0), ab.image_b(0)) and torch.equal(ba.image_b(4), ab.image_a(4))
    assert "x = B" in ba.describe()
    digits = mnist_uci(direction="BtoA")
    assert torch.equal(digits.images_a, builtin[0].images_b) and torch.equal(digits.labels_b, builtin[0].labels_a)
    assert next(digits.stream(4, seed=0, device=CPU)).x.shape == (4, 1, 32, 32)


def _numbered(n: int) -> torch.Tensor:
    """n 1x8x8 images, image i filled with the value i: a batch shows which images it drew."""
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()


def test_the_two_sides_are_drawn_independently() -> None:
    images = _numbered(40)
    data = UnpairedImages(images, images.clone(), image_size=8)  # the same images on both sides
    stream = data.stream(10, seed=3, device=CPU)
    drawn_a, drawn_b = [], []
    for _ in range(8):  # two epochs of each side
        batch = next(stream)
        drawn_a.append(((batch.x[:, 0, 0, 0] + 1) * 127.5).round().long())
        drawn_b.append(((batch.x_b[:, 0, 0, 0] + 1) * 127.5).round().long())
    a, b = torch.cat(drawn_a), torch.cat(drawn_b)
    assert sorted(a[:40].tolist()) == sorted(b[:40].tolist()) == list(range(40))  # each side: every image once an epoch
    assert (a != b).float().mean() > 0.8  # but in its own order: pairs are not fixed ...
    assert not torch.equal(a[40:] - a[:40], b[40:] - b[:40])  # ... and change from epoch to epoch
    other = next(UnpairedImages(images, images.clone(), image_size=8).stream(10, seed=4, device=CPU))
    assert not torch.equal(((other.x[:, 0, 0, 0] + 1) * 127.5).round().long(), drawn_a[0])  # the order depends on the seed


def test_unequal_sides_epoch_is_the_larger_and_each_side_cycles() -> None:
    data = UnpairedImages(_numbered(7), _numbered(3), image_size=8)
    assert len(data) == 7
    stream = data.stream(3, seed=0, device=CPU)
    seen_b = [((next(stream).x_b[:, 0, 0, 0] + 1) * 127.5).round().long() for _ in range(4)]
    assert all(sorted(b.tolist()) == [0, 1, 2] for b in seen_b)  # B's epoch is one batch: it restarts each step


def _take(stream, n: int) -> list:
    return [next(stream) for _ in range(n)]


def test_stream_resumes_exactly_jitter_included(horses: Path) -> None:
    data = unpaired(str(horses), image_size=16, load_size=24, channels=3, flip=True)
    whole = _take(data.stream(2, seed=5, device=CPU), 6)  # crosses both sides' epoch ends
    half = data.stream(2, seed=5, device=CPU)
    _take(half, 3)
    state = half.state_dict()
    assert state == {"consumed": 3}
    resumed = data.stream(2, seed=5, device=CPU)
    resumed.load_state_dict(state)
    for expected, got in zip(whole[3:], _take(resumed, 3), strict=True):
        assert torch.equal(expected.x, got.x) and torch.equal(expected.x_b, got.x_b)
    half.load_state_dict({"consumed": 1})  # rewinding a stream in use
    assert torch.equal(next(half).x_b, whole[1].x_b)
    # the jitter is random: the crops of one image differ from draw to draw, by a fixed function of the key
    image = data.images_a[0]
    crops = {jitter(image, 16, True, (5, 0, draw)).numpy().tobytes() for draw in range(20)}
    assert len(crops) > 10
    assert torch.equal(jitter(image, 16, True, (5, 0, 7)), jitter(image, 16, True, (5, 0, 7)))
    assert not torch.equal(jitter(image, 16, True, (5, 0, 7)), jitter(image, 16, True, (5, 1, 7)))


def test_stream_with_a_loader_worker_gives_the_same_batches(horses: Path) -> None:
    data = unpaired(str(horses), image_size=16, load_size=20, flip=True)
    inline = _take(data.stream(2, seed=1, device=CPU), 3)
    stream = data.stream(2, seed=1, device=CPU, num_workers=1)
    for expected, got in zip(inline, _take(stream, 3), strict=True):
        assert torch.equal(expected.x, got.x) and torch.equal(expected.x_b, got.x_b)
    stream.close()


def test_batch_larger_than_a_side_names_the_setting(horses: Path) -> None:
    data = unpaired(str(horses), image_size=16, load_size=16)
    with pytest.raises(ConfigError, match=r"train.batch_size=4 is larger than domain B \(3 train images\)"):
        data.stream(4, seed=0, device=CPU)
    with pytest.raises(ConfigError, match=r"train.batch_size=2 x 2 processes is larger than domain B"):
        data.stream(2, seed=0, device=CPU, world_size=2)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_unreadable_image_is_named_in_one_line(horses: Path, num_workers: int) -> None:
    (horses / "trainB" / "b0.jpg").write_bytes(b"not a jpeg")
    data = unpaired(str(horses), image_size=16, load_size=16)  # built: files are read when drawn
    stream = data.stream(3, seed=0, device=CPU, num_workers=num_workers)  # B's one batch of 3 holds every B image
    with pytest.raises(DataError, match=r"^cannot read image .*b0.jpg") as raised:
        next(stream)
    assert "\n" not in str(raised.value)  # not the worker's traceback
    stream.close()


def test_bad_input_each_one_clear_line(horses: Path, tmp_path: Path) -> None:
    cases: list[tuple[type, str, dict]] = [
        (DataError, r"does not exist: .*root/trainA, root/trainB, root/testA, root/testB", {"root": str(tmp_path / "nowhere")}),
        (
            ConfigError,
            r"data.load_size=28 is smaller than data.image_size=32: images too small for the crop",
            {"root": str(horses), "image_size": 32, "load_size": 28},
        ),
        (ConfigError, r"data.direction must be AtoB or BtoA \(got 'AtB'\)", {"root": str(horses), "direction": "AtB"}),
        (ConfigError, r"data.split must be train or test", {"root": str(horses), "split": "val"}),
        (ConfigError, r"data.channels must be 1 \(grey\) or 3", {"root": str(horses), "channels": 2}),
        (ConfigError, r"data=unpaired reads root/trainA, root/trainB, root/testA, root/testB: set data.root=FOLDER .*data=mnist_uci", {}),
    ]
    no_b = tmp_path / "no_b"
    (no_b / "trainA").mkdir(parents=True)
    cases.append(
        (
            DataError,
            r"has no trainB/: an unpaired data set is laid out as root/trainA, root/trainB, root/testA, root/testB",
            {"root": str(no_b)},
        )
    )
    (tmp_path / "bare").mkdir()
    cases.append((DataError, r"has no trainA/ and no trainB/", {"root": str(tmp_path / "bare")}))
    empty = tmp_path / "empty"
    (empty / "trainA").mkdir(parents=True)
    (empty / "trainB").mkdir()
    _write(empty / "trainA" / "x.png", (8, 8), "L", 0)
    (empty / "trainB" / "readme.txt").write_text("no images")
    cases.append((DataError, r"no images \(\.png, \.jpg.*\) in .*trainB: put domain B's images there", {"root": str(empty)}))
    cases.append((DataError, r"has no testA/ and no testB/", {"root": str(empty), "split": "test"}))
    for error, message, kwargs in cases:
        with pytest.raises(error, match=message) as raised:
            unpaired(**kwargs)
        assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match=r"data.load_size=28 is smaller than data.image_size=32") as raised:
        mnist_uci(load_size=28)
    assert len(unpaired(str(horses), split="test", image_size=16).images_b) == 1  # the fixture itself is fine


@pytest.mark.parametrize("option, factory", [("unpaired", unpaired), ("mnist_uci", mnist_uci), ("mnist_mnistm", mnist_mnistm)])
def test_config_documents_every_argument_and_instantiates(option: str, factory) -> None:
    text = (CONF / f"{option}.yaml").read_text()
    config = OmegaConf.load(CONF / f"{option}.yaml")
    assert config._target_ == f"gantrain.data.unpaired.{option}"
    for key, parameter in inspect.signature(factory).parameters.items():
        assert key in config, f"{option}.yaml lacks {key}"
        default = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
        if key != "root":
            assert OmegaConf.to_object(config)[key] == default, key
    for line in text.splitlines():
        if line and not line.startswith(("#", "_target_:")):
            assert " # " in line, f"no comment on {line!r}"
    assert f"data={option}" in text
    if option == "mnist_uci":
        data = build_data(config, split="test")
        assert (len(data.images_a), len(data.images_b), data.image_size, data.channels) == (1000, 359, 32, 1)


def test_the_mnist_m_pair_holds_disjoint_halves_of_the_digits_fixed_rgb_and_labelled() -> None:
    """data=mnist_mnistm: A the even bundled digits, B the odd ones over textures; train and test apart."""
    for split, count in (("train", 4000), ("test", 1000)):
        data = mnist_mnistm(split=split)
        assert (len(data.images_a), len(data.images_b)) == (count // 2, count // 2)
        assert data.images_a.shape[1:] == data.images_b.shape[1:] == (3, 32, 32) and data.channels == data.channels_b == 3
        assert (data.images_a[:, 0] == data.images_a[:, 1]).all() and (data.images_a[:, 1] == data.images_a[:, 2]).all()  # grey as RGB
        assert not (data.images_b[:, 0] == data.images_b[:, 1]).all()  # coloured
        digits, labels = load_bundled(split)
        assert torch.equal(data.labels_a, torch.from_numpy(labels[0::2].astype(np.int64)))
        assert torch.equal(data.labels_b, torch.from_numpy(labels[1::2].astype(np.int64)))
        for side in (data.labels_a, data.labels_b):
            assert (torch.bincount(side, minlength=10) == count // 20).all()  # every class, evenly
        # B's digits are A's others: no A digit is under any B texture (B's strokes are A-shaped where a twin is)
        a_digits = _image_set(data.images_a[:, :1])
        b_sources = torch.from_numpy(np.pad(digits[1::2], ((0, 0), (2, 2), (2, 2)))).unsqueeze(1)
        assert not a_digits & _image_set(b_sources)
        again = mnist_mnistm(split=split)
        assert torch.equal(again.images_b, data.images_b)  # the same textures for every run
        assert data.notice is not None and "MNIST-M" in data.notice and "\n" not in data.notice
    train, test = mnist_mnistm(), mnist_mnistm(split="test")
    assert not _image_set(train.images_b) & _image_set(test.images_b)
    swapped = mnist_mnistm(direction="BtoA")
    assert torch.equal(swapped.images_a, train.images_b) and torch.equal(swapped.labels_b, train.labels_a)
    grey = mnist_mnistm(channels=1, split="test")
    assert grey.images_b.shape[1:] == (1, 32, 32)


def test_mnist_m_blends_each_digit_over_its_own_texture_as_ganin_and_lempitsky() -> None:
    ink = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)
    ink[:, :, 2:6, 3] = 255  # a vertical stroke
    background = textures(3, 8, seed=5)
    blended = mnist_m(ink, seed=5)
    assert torch.equal(blended[:, :, 0, 0], background[:, :, 0, 0])  # no ink: the background as it is
    assert torch.equal(blended[:, :, 3, 3], 255 - background[:, :, 3, 3])  # full ink: its colours inverted
    assert not torch.equal(textures(3, 8, seed=5), textures(3, 8, seed=6))
    assert torch.equal(textures(5000, 8, seed=1, chunk=2048)[:3], textures(5000, 8, seed=1, chunk=2048)[:3])
    spread = textures(200, 32, seed=0).float().flatten(1).std(1)
    assert (spread > 5).all()  # every background has structure, none is flat


def test_a_subset_keeps_n_images_of_each_domain_each_drawn_on_its_own(builtin, horses: Path) -> None:
    from gantrain.data.subset import SECOND_SIDE_SEED, subset_indices, take_subset

    full = mnist_uci()
    kept = take_subset(mnist_uci(), 100, seed=3)
    assert len(kept.images_a) == len(kept.images_b) == 100 and kept.subset_of == (len(full.images_a) + len(full.images_b), 3)
    chosen_a, chosen_b = subset_indices(len(full.images_a), 100, 3), subset_indices(len(full.images_b), 100, 3 + SECOND_SIDE_SEED)
    assert torch.equal(kept.images_a, full.images_a[chosen_a]) and torch.equal(kept.labels_a, full.labels_a[chosen_a])
    assert torch.equal(kept.images_b, full.images_b[chosen_b]) and torch.equal(kept.labels_b, full.labels_b[chosen_b])
    folders, both = unpaired(str(horses), image_size=16), take_subset(unpaired(str(horses), image_size=16), 2, seed=0)
    for side in ("a", "b"):
        whole, some = getattr(folders, f"image_{side}"), getattr(both, f"image_{side}")
        chosen = subset_indices(len(getattr(folders, f"images_{side}")), 2, SECOND_SIDE_SEED if side == "b" else 0)
        assert len(getattr(both, f"images_{side}")) == 2
        assert all(torch.equal(some(i), whole(j)) for i, j in enumerate(chosen.tolist()))
    with pytest.raises(ConfigError, match="data.subset=4 is more than the 3 training images of domain B there are"):
        take_subset(unpaired(str(horses), image_size=16), 4)
