"""Data sets, each read from tiny files this module writes in the real on-disk format (IDX, CIFAR's
pickled batches, LSUN's LMDBs, a folder of images), plus the bundled MNIST subset, the YAML configs of
conf/data/, and BatchStream's batches and resumption."""

import gzip
import inspect
import io
import os
import pickle
import struct
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gantrain.core.errors import ConfigError, DataError
from gantrain.data import CIFAR10, LSUN, MNIST, ImageFolder
from gantrain.data.base import UNLABELLED, BatchStream
from gantrain.data.transforms import load_square
from gantrain.training.setup import build_data

CONF = Path(__file__).resolve().parent.parent / "conf" / "data"
CPU = torch.device("cpu")


# ---------------------------------------------------------------------------------------------------
# writers of the real formats


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool) -> Path:
    """IDX: big-endian int32 magic, one big-endian int32 per dimension, then the uint8 data."""
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def make_mnist(folder: Path, n: int = 12, split: str = "train", gz: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    prefix = "train" if split == "train" else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, 2051, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, 2049, gz)
    return images, labels


class _Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did: every str and bytes becomes a Python 2 str (BINSTRING)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin1"))

    dispatch[bytes], dispatch[str] = save_bytes, save_str


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int], python2_style: bool) -> None:
    """A batch as CIFAR's own files are: a pickled dict {b"data": uint8 (N, 3072), b"labels": [int]}.

    python2_style writes what the 2009 files hold (Python 2 strs, protocol 2, numpy 1.x's
    numpy.core.multiarray._reconstruct); otherwise Python 3's default protocol (5), as a re-pickled
    batch would be.
    """
    batch = {b"batch_label": b"testing batch", b"data": data, b"labels": labels, b"filenames": [b"x.png"] * len(data)}
    if python2_style:
        out = io.BytesIO()
        _Python2Pickler(out, protocol=2).dump(batch)
        raw = out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        assert b"cnumpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw
    else:
        raw = pickle.dumps(batch)
    path.write_bytes(raw)


def make_cifar(root: Path, per_batch: int = 3, python2_style: bool = True):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    datas, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        write_cifar_batch(folder / name, data, y, python2_style)
        datas.append(data)
        labels.append(y)
    return datas, labels


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def striped(width: int, height: int) -> Image.Image:
    """Blue in the central square, red outside it: a correct centre crop keeps only blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 0] = 255
    side = min(width, height)
    top, left = (height - side) // 2, (width - side) // 2
    pixels[top : top + side, left : left + side] = (0, 0, 255)
    return Image.fromarray(pixels)


def write_lmdb(path: Path, values: dict[bytes, bytes]) -> None:
    """An LMDB environment in LSUN's layout: a <class>_lmdb/ folder holding data.mdb and lock.mdb."""
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
    env.close()


@pytest.fixture(scope="module")
def lsun_root(tmp_path_factory) -> Path:
    """bedroom_train: 5 striped images of mixed shapes and formats; church_outdoor_train: 3 grey PNGs."""
    root = tmp_path_factory.mktemp("lsun")
    shapes = [(48, 32, "PNG"), (32, 48, "WEBP"), (40, 40, "PNG"), (64, 36, "JPEG"), (20, 30, "WEBP")]
    bedrooms = {f"{i:040x}".encode(): encode(striped(w, h), fmt) for i, (w, h, fmt) in enumerate(shapes)}
    write_lmdb(root / "bedroom_train_lmdb", bedrooms)
    churches = {f"church{i}".encode(): encode(Image.new("L", (30 + i, 24), 100 + i), "PNG") for i in range(3)}
    write_lmdb(root / "church_outdoor_train_lmdb", churches)
    return root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """7 PNG/JPEG images, grey and RGB(A), of various sizes, in nested folders, plus files to ignore."""
    root = tmp_path_factory.mktemp("images")
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    (root / ".hidden").mkdir()
    striped(50, 30).save(root / "one.png")
    Image.new("L", (20, 33), 77).save(root / "a" / "grey.png")
    Image.new("RGBA", (16, 16), (10, 20, 30, 40)).save(root / "a" / "b" / "rgba.PNG")
    Image.new("P", (40, 24)).save(root / "a" / "b" / "palette.png")
    striped(31, 70).save(root / "c" / "tall.png")
    striped(64, 64).save(root / "c" / "photo.jpg", quality=95)
    Image.fromarray(np.full((18, 26), 40000, np.uint16)).save(root / "c" / "deep.png")  # 16-bit grey
    (root / "notes.txt").write_text("not an image")
    (root / "._one.png").write_bytes(b"AppleDouble junk")  # macOS resource fork: hidden, skipped
    striped(8, 8).save(root / ".hidden" / "skip.png")
    return root


# ---------------------------------------------------------------------------------------------------
# MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    images, labels = make_mnist(tmp_path, gz=gz)
    data = MNIST(str(tmp_path))
    assert data.images.shape == (12, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == labels.tolist()
    assert data.num_classes == 10 and data.notice is None and data.source == str(tmp_path)
    image, label = data[3]
    assert image.shape == (1, 28, 28) and label == 3


def test_mnist_reads_torchvision_layout_and_test_split(tmp_path):
    images, labels = make_mnist(tmp_path / "MNIST" / "raw", n=7, split="test", gz=True)
    data = MNIST(str(tmp_path), split="test")
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels.tolist() == labels.tolist()
    assert "MNIST/raw" in data.describe()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):  # only the test split is there
        MNIST(str(tmp_path), split="train")


def test_mnist_resizes_and_fits_channels(tmp_path):
    make_mnist(tmp_path)
    data = MNIST(str(tmp_path), image_size=32, channels=3)
    assert data.images.shape == (12, 3, 32, 32) and (data.image_size, data.channels) == (32, 3)
    assert torch.equal(data.images[:, 0], data.images[:, 2])  # grey repeated into RGB
    with pytest.raises(ConfigError, match="image_size"):
        MNIST(str(tmp_path), image_size=4)
    with pytest.raises(ConfigError, match="channels"):
        MNIST(str(tmp_path), channels=2)


def test_mnist_truncated_or_corrupt_files_are_data_errors(tmp_path):
    make_mnist(tmp_path)
    images_file = tmp_path / "train-images-idx3-ubyte"
    raw = images_file.read_bytes()
    images_file.write_bytes(raw[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated"):
        MNIST(str(tmp_path))
    images_file.write_bytes((2049).to_bytes(4, "big") + raw[4:])  # a labels magic on an images file
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        MNIST(str(tmp_path))
    images_file.unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw)[:-20])  # cut-off gzip
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        MNIST(str(tmp_path))


def test_mnist_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError) as error:
        MNIST(str(tmp_path))
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "data.download=true" in message and "bundled" in message and "\n" not in message


def test_mnist_bundled_subset():
    data = MNIST()
    assert data.images.shape == (4000, 1, 28, 28) and len(data) == 4000
    assert torch.bincount(data.labels, minlength=10).tolist() == [400] * 10
    assert int(data.images.min()) == 0 and int(data.images.max()) == 255
    assert data.images.float().mean() > 20  # digits, not a blank array (MNIST's mean is ~33)
    assert data.notice is not None and "data.root" in data.notice and "\n" not in data.notice
    assert MNIST(image_size=32, channels=3).images.shape == (4000, 3, 32, 32)
    test = MNIST(split="test")  # 100 held-out digits per class, none of them in the train split
    assert torch.bincount(test.labels, minlength=10).tolist() == [100] * 10
    train_rows = {bytes(row) for row in data.images.flatten(1).numpy()}
    assert not any(bytes(row) in train_rows for row in test.images.flatten(1).numpy())
    with pytest.raises(ConfigError, match="data.root"):
        MNIST(download=True)


# ---------------------------------------------------------------------------------------------------
# CIFAR-10


@pytest.mark.parametrize("python2_style", [True, False])
def test_cifar10_reads_pickled_batches(tmp_path, python2_style):
    datas, labels = make_cifar(tmp_path, python2_style=python2_style)
    train = CIFAR10(str(tmp_path))
    assert train.images.shape == (15, 3, 32, 32) and train.num_classes == 10
    expected = torch.from_numpy(np.concatenate(datas[:5])).view(15, 3, 32, 32)  # R, G, B planes, row-major
    assert torch.equal(train.images, expected)
    assert train.labels.tolist() == sum(labels[:5], [])
    test = CIFAR10(str(tmp_path / "cifar-10-batches-py"), split="test")  # root may be the batches folder
    assert torch.equal(test.images, torch.from_numpy(datas[5]).view(3, 3, 32, 32))
    assert test.labels.tolist() == labels[5]
    grey = CIFAR10(str(tmp_path), image_size=16, channels=1)
    assert grey.images.shape == (15, 1, 16, 16)


def test_cifar10_missing_root_or_batches(tmp_path):
    with pytest.raises(ConfigError, match="data=cifar10 needs data.root"):
        CIFAR10(None)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        CIFAR10(str(tmp_path))
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing"):
        CIFAR10(str(tmp_path))


class _RunsCommand:
    """Unpickling this calls os.system(command): what a malicious "batch" would do."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _CallsEval:
    def __reduce__(self):
        return eval, ("__import__('pathlib').Path('PWNED').touch()",)


@pytest.mark.parametrize("payload", ["os.system", "eval"])
def test_cifar10_refuses_malicious_pickle(tmp_path, payload):
    make_cifar(tmp_path)
    marker = tmp_path / "PWNED"
    evil = _RunsCommand(f"touch {marker}") if payload == "os.system" else _CallsEval()
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [evil]}
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # where the eval payload would write
    try:
        with pytest.raises(DataError, match="refusing to load"):
            CIFAR10(str(tmp_path))
    finally:
        os.chdir(cwd)
    assert not marker.exists()


def test_cifar10_garbage_batch_is_a_data_error(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x02}q\x00(garbage")
    with pytest.raises(DataError, match="data_batch_1"):
        CIFAR10(str(tmp_path))


# ---------------------------------------------------------------------------------------------------
# LSUN


def test_lsun_one_class_resizes_and_centre_crops(lsun_root):
    data = LSUN(str(lsun_root), image_size=16)
    assert len(data) == 5 and data.num_classes is None and data.channels == 3
    for i in range(len(data)):
        image, label = data[i]
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and label == UNLABELLED
        centre = image[:, 3:13, 3:13].int()  # away from the edge, where bicubic sees the cropped-off red
        assert (centre[2] > 230).all() and (centre[0] < 25).all(), f"item {i} is not the blue centre square"
    grey = LSUN(str(lsun_root), classes="bedroom_train", image_size=8, channels=1)
    assert grey[0][0].shape == (1, 8, 8)


def test_lsun_several_classes_are_labelled(lsun_root):
    data = LSUN(str(lsun_root), classes=["bedroom_train", "church_outdoor_train"], image_size=16)
    assert len(data) == 8 and data.num_classes == 2
    assert [data[i][1] for i in range(8)] == [0] * 5 + [1] * 3
    church, _ = data[6]
    assert int(church.min()) == int(church.max()) == 101  # the grey value of church1, repeated into RGB


def test_lsun_errors(lsun_root, tmp_path):
    with pytest.raises(ConfigError, match="data=lsun needs data.root"):
        LSUN(None)
    with pytest.raises(DataError, match="kitchen_train_lmdb does not exist.*<class>_lmdb"):
        LSUN(str(lsun_root), classes=["bedroom_train", "kitchen_train"])
    (tmp_path / "tower_train_lmdb").mkdir()
    with pytest.raises(DataError, match="tower_train_lmdb is not a readable LMDB"):
        LSUN(str(tmp_path), classes="tower_train")
    write_lmdb(tmp_path / "empty_train_lmdb", {})
    with pytest.raises(DataError, match="empty LMDB"):
        LSUN(str(tmp_path), classes="empty_train")
    write_lmdb(tmp_path / "broken_train_lmdb", {b"good": encode(striped(9, 9), "PNG"), b"bad-key": b"not an image"})
    broken = LSUN(str(tmp_path), classes="broken_train", image_size=8)
    assert broken[1][0].shape == (3, 8, 8)  # keys sort: b"bad-key" is 0, b"good" is 1
    with pytest.raises(DataError, match="bad-key"):
        broken[0]


def test_lsun_streams_through_workers(lsun_root):
    data = LSUN(str(lsun_root), classes=["bedroom_train", "church_outdoor_train"], image_size=16)
    data[0]  # opens an env in this process: forked workers must open their own
    stream = BatchStream(data, batch_size=2, seed=0, device=CPU, num_workers=2)
    batches = [next(stream) for _ in range(6)]  # 4 batches per epoch: crosses into the second
    for batch in batches:
        assert batch.x.shape == (2, 3, 16, 16) and batch.x.dtype == torch.float32
        assert batch.x.min() >= -1 and batch.x.max() <= 1
        assert batch.y is not None and set(batch.y.tolist()) <= {0, 1}
    assert stream.consumed == 6
    unlabelled = next(BatchStream(LSUN(str(lsun_root), image_size=16), batch_size=2, seed=0, device=CPU))
    assert unlabelled.y is None


# ---------------------------------------------------------------------------------------------------
# a folder of images


def test_folder_finds_nested_images_in_sorted_order(image_folder):
    data = ImageFolder(str(image_folder), image_size=16)
    names = [os.fsdecode(p) for p in data._paths]
    assert names == [  # sorted by path: item i is the same file on every run
        "a/b/palette.png",
        "a/b/rgba.PNG",
        "a/grey.png",
        "c/deep.png",
        "c/photo.jpg",
        "c/tall.png",
        "one.png",
    ]
    for i in range(len(data)):
        image, label = data[i]
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and label == UNLABELLED
    assert int(data[2][0].min()) == int(data[2][0].max()) == 77  # grey repeated into RGB
    assert data[1][0][:, 0, 0].tolist() == [10, 20, 30]  # RGBA: alpha dropped
    assert int(data[3][0].max()) == round(40000 * 255 / 65535)  # 16-bit grey scaled, not clipped
    tall = data[5][0].int()
    assert (tall[2, 3:13, 3:13] > 230).all() and (tall[0, 3:13, 3:13] < 25).all()  # the centre square
    grey = ImageFolder(str(image_folder), image_size=8, channels=1, extensions=("jpg",))
    assert len(grey) == 1 and grey[0][0].shape == (1, 8, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="data=folder needs data.root"):
        ImageFolder(None)
    with pytest.raises(DataError, match="does not exist"):
        ImageFolder(str(tmp_path / "nowhere"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no images \(\.png, \.jpg.*found under"):
        ImageFolder(str(tmp_path))
    (tmp_path / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    data = ImageFolder(str(tmp_path))
    with pytest.raises(DataError, match="broken.png"):
        data[0]


def test_load_square_matches_resize_then_crop():
    """Cropping first and resizing in one call equals scaling the shorter side then cropping."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(40, 100, 3), dtype=np.uint8).repeat(2, 0).repeat(2, 1))
    ours = load_square(image, 20, 3).int()
    scaled = image.resize((50, 20), Image.Resampling.BICUBIC)  # 200x80 -> shorter side 20
    reference = torch.from_numpy(np.array(scaled.crop((15, 0, 35, 20)))).permute(2, 0, 1).int()
    assert ours.shape == (3, 20, 20)
    assert (ours - reference).abs().float().mean() < 3  # only resampling round-off differs


# ---------------------------------------------------------------------------------------------------
# BatchStream resumption


def _take(stream: BatchStream, n: int) -> list:
    return [next(stream) for _ in range(n)]


@pytest.mark.parametrize("kind", ["in_memory", "streamed"])
def test_batch_stream_resumes_exactly(kind, image_folder):
    if kind == "in_memory":
        data, batch_size = MNIST(image_size=8), 64  # 78 batches per epoch
    else:
        data, batch_size = ImageFolder(str(image_folder), image_size=8), 3  # 2 per epoch: resumes across epochs
    n = 5
    whole = _take(BatchStream(data, batch_size, seed=7, device=CPU), n + 4)
    first = BatchStream(data, batch_size, seed=7, device=CPU)
    _take(first, n)
    resumed = BatchStream(data, batch_size, seed=7, device=CPU, consumed=first.state_dict()["consumed"])
    for expected, got in zip(whole[n:], _take(resumed, 4), strict=True):
        assert torch.equal(expected.x, got.x)
        assert (expected.y is None and got.y is None) or torch.equal(expected.y, got.y)
    loaded = BatchStream(data, batch_size, seed=7, device=CPU)
    loaded.load_state_dict({"consumed": n + 2})
    assert torch.equal(next(loaded).x, whole[n + 2].x)
    other_seed = next(BatchStream(data, batch_size, seed=8, device=CPU))
    assert not torch.equal(other_seed.x, whole[0].x)  # the order really depends on the seed


# ---------------------------------------------------------------------------------------------------
# conf/data/*.yaml


@pytest.mark.parametrize("name, cls", [("mnist", MNIST), ("cifar10", CIFAR10), ("lsun", LSUN), ("folder", ImageFolder)])
def test_data_config_documents_every_constructor_argument(name, cls):
    text = (CONF / f"{name}.yaml").read_text()
    config = OmegaConf.load(CONF / f"{name}.yaml")
    assert config._target_ == f"{cls.__module__}.{cls.__name__}"
    assert {"root", "image_size", "channels"} <= set(config)
    for key, parameter in inspect.signature(cls).parameters.items():
        assert key in config, f"{name}.yaml lacks {key}"
        if parameter.default is not inspect.Parameter.empty:
            value = OmegaConf.to_object(config)[key]
            default = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
            assert value == default, f"{name}.yaml: {key}={value!r}, the constructor's default is {default!r}"
    for line in text.splitlines():
        if line and not line.startswith(("#", "_target_:")):
            assert " # " in line, f"{name}.yaml: no comment on {line!r}"
    assert f"data={name}" in text  # the header shows the command


def test_data_configs_instantiate(tmp_path, lsun_root, image_folder):
    make_mnist(tmp_path / "mnist", gz=True)
    make_cifar(tmp_path / "cifar")
    roots = {"mnist": tmp_path / "mnist", "cifar10": tmp_path / "cifar", "lsun": lsun_root, "folder": image_folder}
    sizes = {"mnist": (12, 1, 28), "cifar10": (15, 3, 32), "lsun": (5, 3, 64), "folder": (7, 3, 64)}
    for name, root in roots.items():
        config = OmegaConf.load(CONF / f"{name}.yaml")
        config.root = str(root)
        data = build_data(config)
        n, channels, size = sizes[name]
        assert len(data) == n and (data.channels, data.image_size) == (channels, size)
        assert data[0][0].shape == (channels, size, size)
    mnist = OmegaConf.load(CONF / "mnist.yaml")
    assert len(build_data(mnist)) == 4000  # root null: the bundled subset's train split


def test_balanced_labelled_subset_is_balanced_deterministic_and_seeded():
    a = MNIST(labeled_per_class=10, label_seed=0)
    b = MNIST(labeled_per_class=10, label_seed=0)
    c = MNIST(labeled_per_class=10, label_seed=1)
    assert len(a.labelled) == 100
    assert torch.bincount(a.labels[a.labelled], minlength=10).tolist() == [10] * 10
    assert torch.equal(a.labelled, b.labelled) and not torch.equal(a.labelled, c.labelled)
    assert a.has_labels and not a.fully_labelled
    assert MNIST().fully_labelled and not MNIST(labeled_per_class=0).has_labels


def test_labelled_subset_larger_than_a_class_is_refused():
    with pytest.raises(ConfigError, match="data.labeled_per_class=401 but class 0 has only 400"):
        MNIST(labeled_per_class=401)


@pytest.mark.parametrize("bad", ["ten", 2.5, True, -1])
def test_a_label_count_that_is_not_a_whole_number_is_refused_in_one_line(bad):
    with pytest.raises(ConfigError, match=r"data.labeled_per_class must be >= 0 \(a whole number\) or null for all labels"):
        MNIST(labeled_per_class=bad)


def test_semi_supervised_batches_draw_labelled_images_from_the_subset_only():
    data = MNIST(labeled_per_class=3, label_seed=5)
    stream = BatchStream(data, 64, seed=0, device=torch.device("cpu"))
    subset = {bytes(row) for row in data.images[data.labelled].flatten(1).numpy()}
    for _ in range(3):
        batch = next(stream)
        assert batch.y is None and batch.x.shape == (64, 1, 28, 28)  # the big batch is unlabelled
        assert batch.x_lab.shape == (30, 1, 28, 28) and sorted(batch.y_lab.tolist()) == sorted(list(range(10)) * 3)
        pixels = ((batch.x_lab + 1) * 127.5).round().to(torch.uint8).flatten(1).numpy()
        assert all(bytes(row) in subset for row in pixels)
    state = stream.state_dict()
    assert state == {"consumed": 3, "labelled": 3}
    fresh = BatchStream(data, 64, seed=0, device=torch.device("cpu"))
    fresh.load_state_dict(state)
    a, b = next(stream), next(fresh)
    assert torch.equal(a.x, b.x) and torch.equal(a.x_lab, b.x_lab) and torch.equal(a.y_lab, b.y_lab)


def test_fully_labelled_and_unsupervised_batches():
    full = next(BatchStream(MNIST(), 16, seed=0, device=torch.device("cpu")))
    assert full.y is not None and full.x_lab is full.x and full.y_lab is full.y
    none = next(BatchStream(MNIST(labeled_per_class=0), 16, seed=0, device=torch.device("cpu")))
    assert none.y is None and none.x_lab is None and none.y_lab is None


def test_a_gzip_bomb_behind_a_valid_idx_header_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """A 2 MB .gz holding a valid 2-image header and then 2 GB of zeros: refused after reading one byte past
    what the header promises, in a process whose peak memory stays far below what inflating it would take."""
    import subprocess
    import sys
    import zlib

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    header = (2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
    with open(bomb, "wb") as f:
        f.write(compressor.compress(header + bytes(2 * 784)) + compressor.flush(zlib.Z_FULL_FLUSH))
        # 16 MiB of zeros compressed once: after a full flush a block refers to nothing before it, so its
        # bytes written 128 times are 2 GiB of zeros in one valid deflate stream (the trailer's CRC is never reached)
        zeros = compressor.compress(bytes(1 << 24)) + compressor.flush(zlib.Z_FULL_FLUSH)
        for _ in range(128):
            f.write(zeros)
        f.write(compressor.flush())
    assert bomb.stat().st_size < 4 << 20
    script = (
        "import resource, sys; from pathlib import Path; from gantrain.data.mnist import read_idx, IMAGES_MAGIC\n"
        "from gantrain.core.errors import DataError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"try:\n    read_idx(Path({str(bomb)!r}), IMAGES_MAGIC)\nexcept DataError as e:\n    print('refused:', e)\n"
        "print('peak MiB', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "refused:" in done.stdout and "truncated or corrupt" in done.stdout and "more than 1,568" in done.stdout, (
        done.stdout + done.stderr
    )
    assert int(done.stdout.split("peak MiB")[1]) < 256  # the read's own growth of the peak; inflating it whole takes 2 GiB


def test_an_idx_header_promising_more_than_its_gzip_can_hold_is_refused(tmp_path: Path) -> None:
    import gzip

    fake = tmp_path / "train-images-idx3-ubyte.gz"
    fake.write_bytes(gzip.compress((2051).to_bytes(4, "big") + (1_000_000_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2))
    from gantrain.data.mnist import IMAGES_MAGIC, read_idx

    with pytest.raises(DataError, match=r"header promises 784,000,000,000 bytes .* more than a \d+-byte file can hold"):
        read_idx(fake, IMAGES_MAGIC)
