"""Regenerate the embedded Fashion-MNIST sample: cnnspec/data/fashion_mnist_sample.npz.

Takes 300 train + 100 test images per class (3000 + 1000, uint8, 28x28) from the real
Fashion-MNIST IDX files, deterministically (numpy default_rng(SEED) per split, then kept in
the original file order), and writes them with np.savez_compressed under the Keras mnist.npz
keys plus ``class_names``.

Usage (the files come from Debian's ``apt-get install dataset-fashion-mnist``, which puts them
in /usr/share/datasets/fashion-mnist/; any folder holding the 4 IDX files works):

    python benchmarks/make_sample.py [--source DIR] [--out PATH]

Re-running it on the same files gives byte-identical arrays (same ``Dataset.fingerprint()``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnspec.data import FASHION_MNIST_CLASSES, SAMPLE_PATH, load_dataset  # noqa: E402

SEED = 20240601
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100


def pick(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False)
              for c in range(len(FASHION_MNIST_CLASSES))]
    return np.sort(np.concatenate(chosen))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=None, help="folder with the 4 Fashion-MNIST IDX files "
                    "(default: the usual search, /usr/share/datasets/fashion-mnist first)")
    ap.add_argument("--out", default=str(SAMPLE_PATH))
    args = ap.parse_args()
    full = load_dataset("fashion_mnist", path=args.source)
    rng = np.random.default_rng(SEED)
    tr = pick(full.y_train, TRAIN_PER_CLASS, rng)
    te = pick(full.y_test, TEST_PER_CLASS, rng)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x_train=full.x_train[tr, :, :, 0], y_train=full.y_train[tr].astype(np.uint8),
                        x_test=full.x_test[te, :, :, 0], y_test=full.y_test[te].astype(np.uint8),
                        class_names=np.array(FASHION_MNIST_CLASSES))
    sample = load_dataset("sample") if out == SAMPLE_PATH else None
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {full.source}: "
          f"{len(tr)} train + {len(te)} test" + (f", fingerprint {sample.fingerprint()}" if sample else ""))


if __name__ == "__main__":
    main()
