"""Tests for cnnspec.data on small real-format files written here byte-exactly."""
from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import cnnspec.data.sources as D
from cnnspec.data import Dataset, DataError, dataset_names, load_dataset, read_idx

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------------------------
# Writers for the real formats
# ---------------------------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    magic = magic if magic is not None else (0x0800 | arr.ndim)
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.tobytes()


def write_idx_set(folder: Path, n_train=20, n_test=10, h=28, w=28, k=10, gz=True, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % k).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % k).astype(np.uint8),
    }
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


def cifar_pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def cifar_batch(n: int, k: int, label_key: bytes, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch", label_key: [int(i % k) for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"f%d.png" % i for i in range(n)]}


CIFAR10_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
                 b"ship", b"truck"]


def write_cifar10(folder: Path, per_batch=4, n_test=6) -> Path:
    d = folder / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for i in range(1, 6):
        (d / f"data_batch_{i}").write_bytes(cifar_pickle(cifar_batch(per_batch, 10, b"labels", i)))
    (d / "test_batch").write_bytes(cifar_pickle(cifar_batch(n_test, 10, b"labels", 99)))
    (d / "batches.meta").write_bytes(cifar_pickle({b"label_names": CIFAR10_NAMES,
                                                   b"num_cases_per_batch": per_batch}))
    return d


def write_cifar100(folder: Path, n_train=12, n_test=5) -> Path:
    d = folder / "cifar-100-python"
    d.mkdir(parents=True)
    for name, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        b = cifar_batch(n, 100, b"fine_labels", seed)
        b[b"fine_labels"] = [int(i * 7 % 100) for i in range(n)]
        b[b"coarse_labels"] = [0] * n
        (d / name).write_bytes(cifar_pickle(b))
    (d / "meta").write_bytes(cifar_pickle({b"fine_label_names": [b"c%02d" % i for i in range(100)],
                                           b"coarse_label_names": [b"x"] * 20}))
    return d


def tar_gz(src_dir: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as t:
        t.add(src_dir, arcname=src_dir.name)
    return archive


def write_png(path: Path, size=(8, 6), mode="RGB", value=0) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, color).save(path)


def one_line_naming(err: pytest.ExceptionInfo, needle: str) -> str:
    s = str(err.value)
    assert "\n" not in s, s
    assert needle in s, s
    return s


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user data dir, an empty Keras cache, no system dirs: each test controls the search."""
    monkeypatch.delenv("CNNSPEC_DATA_DIR", raising=False)
    monkeypatch.delenv("CNNSPEC_DOWNLOAD", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(D, "SYSTEM_DIRS", {k: [] for k in D.SYSTEM_DIRS})


# ---------------------------------------------------------------------------------------------
# IDX / Fashion-MNIST / MNIST
# ---------------------------------------------------------------------------------------------

def test_fashion_mnist_from_path(tmp_path):
    arrays = write_idx_set(tmp_path / "fm")
    d = load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    assert d.x_train.shape == (20, 28, 28, 1) and d.x_test.shape == (10, 28, 28, 1)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.x_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.y_test, np.arange(10) % 10)
    assert d.class_names[0] == "T-shirt/top" and d.class_names[-1] == "Ankle boot"
    assert d.num_classes == 10 and d.input_shape == (28, 28, 1) and d.value_range == 255.0


def test_fashion_mnist_uncompressed_names(tmp_path):
    write_idx_set(tmp_path / "fm", gz=False)
    d = load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    assert d.x_train.shape == (20, 28, 28, 1)


def test_fashion_mnist_env_dir_and_keras_cache(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "keras_home" / "datasets" / "fashion-mnist", seed=1)
    d1 = load_dataset("fashion_mnist")
    assert "keras_home" in d1.source
    write_idx_set(tmp_path / "mine" / "fashion_mnist", seed=2)
    monkeypatch.setenv("CNNSPEC_DATA_DIR", str(tmp_path / "mine"))
    d2 = load_dataset("fashion_mnist")
    assert "mine" in d2.source and d2.fingerprint() != d1.fingerprint()


def test_fashion_mnist_system_dir(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "sys")
    monkeypatch.setattr(D, "SYSTEM_DIRS", {"fashion_mnist": [tmp_path / "sys"]})
    assert load_dataset("fashion-mnist").source == str(tmp_path / "sys")


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist")
    s = one_line_naming(e, "apt-get install dataset-fashion-mnist")
    assert "keras_home" in s and "CNNSPEC_DATA_DIR" in s
    for name in ("mnist", "cifar10", "cifar100"):
        with pytest.raises(DataError) as e:
            load_dataset(name)
        one_line_naming(e, "not found; looked in")


def test_truncated_gz(tmp_path):
    write_idx_set(tmp_path / "fm")
    f = tmp_path / "fm" / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    one_line_naming(e, str(f))


def test_not_gzip_with_gz_name(tmp_path):
    write_idx_set(tmp_path / "fm")
    f = tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(b"hello, not gzip at all")
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    one_line_naming(e, "t10k-labels-idx1-ubyte.gz")


def test_truncated_idx_payload(tmp_path):
    f = tmp_path / "x-idx3-ubyte"
    f.write_bytes(idx_bytes(np.zeros((3, 4, 4), np.uint8))[:-5])
    with pytest.raises(DataError) as e:
        read_idx(f, 2051)
    assert "truncated" in one_line_naming(e, str(f))


def test_bad_magic(tmp_path):
    write_idx_set(tmp_path / "fm")
    f = tmp_path / "fm" / "train-labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(idx_bytes(np.zeros(20, np.uint8), magic=2051)))
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    assert "magic" in one_line_naming(e, str(f))
    g = tmp_path / "junk"
    g.write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(DataError) as e:
        read_idx(g)
    assert "magic" in one_line_naming(e, "junk")


def test_idx_count_mismatch(tmp_path):
    write_idx_set(tmp_path / "fm")
    f = tmp_path / "fm" / "train-labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    assert "19 labels" in one_line_naming(e, str(f))


def test_idx_label_out_of_range(tmp_path):
    write_idx_set(tmp_path / "fm")
    f = tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(idx_bytes(np.full(10, 10, np.uint8))))
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    assert "out of range" in one_line_naming(e, str(f))


def test_idx_incomplete_folder(tmp_path):
    write_idx_set(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", path=str(tmp_path / "fm"))
    one_line_naming(e, "t10k-images-idx3-ubyte.gz")


def test_mnist_npz_keras_cache_and_path(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
             y_train=np.arange(12) % 10, x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
             y_test=np.arange(5))
    d = load_dataset("mnist")
    assert d.name == "mnist" and d.x_train.shape == (12, 28, 28, 1) and d.class_names == [str(i) for i in range(10)]
    assert load_dataset("mnist", path=str(cache / "mnist.npz")).fingerprint() == d.fingerprint()
    write_idx_set(tmp_path / "dd" / "mnist", n_train=7, n_test=3)
    monkeypatch.setenv("CNNSPEC_DATA_DIR", str(tmp_path / "dd"))
    assert load_dataset("mnist").x_train.shape == (7, 28, 28, 1)


# ---------------------------------------------------------------------------------------------
# npz:PATH
# ---------------------------------------------------------------------------------------------

def test_npz_with_class_names_and_channels(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, x_train=np.zeros((6, 5, 5, 3), np.uint8), y_train=np.array([0, 1, 2, 0, 1, 2]),
             x_test=np.zeros((2, 5, 5, 3), np.uint8), y_test=np.array([2, 1]),
             class_names=np.array(["a", "b", "c"]))
    d = load_dataset(f"npz:{f}")
    assert d.class_names == ["a", "b", "c"] and d.input_shape == (5, 5, 3)
    assert load_dataset(str(f)).fingerprint() == d.fingerprint()


def test_npz_float_and_3d(tmp_path):
    f = tmp_path / "f.npz"
    np.savez(f, x_train=np.full((4, 3, 3), 0.5, np.float64), y_train=np.array([0., 1., 0., 1.]),
             x_test=np.zeros((2, 3, 3)), y_test=np.array([1, 0]))
    d = load_dataset(f"npz:{f}")
    assert d.x_train.dtype == np.float32 and d.x_train.shape == (4, 3, 3, 1)
    assert d.value_range == 1.0 and d.class_names == ["0", "1"] and d.y_train.dtype == np.int64


@pytest.mark.parametrize("arrays, needle", [
    (dict(x_train=np.zeros((4, 3, 3)), y_train=np.zeros(3, int)), "3 labels but there are 4 images"),
    (dict(x_train=np.zeros((4, 9))), "expected (N, H, W)"),
    (dict(y_train=np.array([0, 1, -1, 0])), "negative label"),
    (dict(y_train=np.array([0, 0.5, 1, 0])), "non-integer"),
    (dict(y_test=np.array([0, 3])), "out of range"),
    (dict(x_test=np.zeros((2, 4, 4))), "x_test images are"),
])
def test_npz_bad(tmp_path, arrays, needle):
    base = dict(x_train=np.zeros((4, 3, 3), np.uint8), y_train=np.array([0, 1, 2, 0]),
                x_test=np.zeros((2, 3, 3), np.uint8), y_test=np.array([0, 1]),
                class_names=np.array(["a", "b", "c"]))
    base.update(arrays)
    f = tmp_path / "bad.npz"
    np.savez(f, **base)
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{f}")
    one_line_naming(e, str(f))
    assert needle in str(e.value)


def test_npz_missing_key_and_not_npz(tmp_path):
    f = tmp_path / "m.npz"
    np.savez(f, x_train=np.zeros((2, 3, 3)))
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{f}")
    assert "y_train" in one_line_naming(e, str(f))
    g = tmp_path / "n.npz"
    g.write_bytes(b"garbage\nwith newline")
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{g}")
    one_line_naming(e, str(g))
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{tmp_path / 'absent.npz'}")
    one_line_naming(e, "absent.npz")


def test_npz_object_array_refused(tmp_path):
    f = tmp_path / "o.npz"
    np.savez(f, x_train=np.array([object()] * 2, dtype=object), y_train=np.zeros(2),
             x_test=np.zeros((1, 2, 2)), y_test=np.zeros(1))
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{f}")
    one_line_naming(e, str(f))


# ---------------------------------------------------------------------------------------------
# CIFAR
# ---------------------------------------------------------------------------------------------

def test_cifar10_folder(tmp_path):
    d_dir = write_cifar10(tmp_path)
    d = load_dataset("cifar10", path=str(d_dir))
    assert d.x_train.shape == (20, 32, 32, 3) and d.x_test.shape == (6, 32, 32, 3)
    assert d.class_names[0] == "airplane" and d.class_names[9] == "truck"
    assert d.y_train.dtype == np.int64 and d.x_train.dtype == np.uint8
    # channel-first rows -> (32, 32, 3)
    raw = pickle.loads((d_dir / "data_batch_1").read_bytes())[b"data"]
    np.testing.assert_array_equal(d.x_train[0, :, :, 0], raw[0, :1024].reshape(32, 32))
    np.testing.assert_array_equal(d.x_train[0, 5, 7], raw[0, [5 * 32 + 7, 1024 + 5 * 32 + 7, 2048 + 5 * 32 + 7]])
    # the parent folder, the env dir and the keras cache work too
    assert load_dataset("cifar10", path=str(tmp_path)).fingerprint() == d.fingerprint()


def test_cifar10_tar_gz_equals_folder(tmp_path, monkeypatch):
    d_dir = write_cifar10(tmp_path / "src")
    arch = tar_gz(d_dir, tmp_path / "cifar-10-python.tar.gz")
    a = load_dataset("cifar10", path=str(arch))
    b = load_dataset("cifar10", path=str(d_dir))
    assert a.fingerprint() == b.fingerprint() and a.source == str(arch)
    (tmp_path / "dd" / "cifar10").mkdir(parents=True)
    arch.rename(tmp_path / "dd" / "cifar10" / arch.name)
    monkeypatch.setenv("CNNSPEC_DATA_DIR", str(tmp_path / "dd"))
    assert load_dataset("cifar10").fingerprint() == b.fingerprint()


def test_cifar_keras_cache(tmp_path):
    write_cifar10(tmp_path / "keras_home" / "datasets")
    assert load_dataset("cifar-10").x_train.shape == (20, 32, 32, 3)


def test_cifar100(tmp_path):
    d_dir = write_cifar100(tmp_path)
    d = load_dataset("cifar100", path=str(d_dir))
    assert d.num_classes == 100 and d.class_names[3] == "c03"
    assert d.x_train.shape == (12, 32, 32, 3) and list(d.y_test) == [0, 7, 14, 21, 28]
    arch = tar_gz(d_dir, tmp_path / "cifar-100-python.tar.gz")
    assert load_dataset("cifar100", path=str(arch)).fingerprint() == d.fingerprint()


def test_cifar_non_pickle(tmp_path):
    d_dir = write_cifar10(tmp_path)
    (d_dir / "data_batch_3").write_bytes(b"this is not a pickle\n")
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    one_line_naming(e, "data_batch_3")


def test_cifar_wrong_dict_and_shape(tmp_path):
    d_dir = write_cifar10(tmp_path)
    (d_dir / "test_batch").write_bytes(cifar_pickle({b"foo": 1}))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    assert "not a CIFAR batch" in one_line_naming(e, "test_batch")
    (d_dir / "test_batch").write_bytes(cifar_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    assert "(N, 3072)" in one_line_naming(e, "test_batch")
    (d_dir / "test_batch").write_bytes(cifar_pickle([1, 2, 3]))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    one_line_naming(e, "test_batch")


def test_cifar_label_out_of_range(tmp_path):
    d_dir = write_cifar10(tmp_path)
    b = cifar_batch(4, 10, b"labels", 1)
    b[b"labels"][2] = 10
    (d_dir / "data_batch_2").write_bytes(cifar_pickle(b))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    assert "out of range" in one_line_naming(e, "data_batch_2")


def test_cifar_malicious_pickle_refused(tmp_path):
    d_dir = write_cifar10(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (d_dir / "batches.meta").write_bytes(pickle.dumps({b"label_names": Evil()}))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    assert "refusing" in one_line_naming(e, "batches.meta")
    assert not marker.exists()


def test_cifar_corrupt_archive(tmp_path):
    d_dir = write_cifar10(tmp_path / "src")
    arch = tar_gz(d_dir, tmp_path / "cifar-10-python.tar.gz")
    arch.write_bytes(arch.read_bytes()[:300])
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(arch))
    one_line_naming(e, "cifar-10-python.tar.gz")


def test_cifar_incomplete(tmp_path):
    d_dir = write_cifar10(tmp_path)
    (d_dir / "data_batch_5").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", path=str(d_dir))
    one_line_naming(e, "data_batch_5")


# ---------------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------------

def test_image_folder_split_by_seed(tmp_path):
    root = tmp_path / "pets"
    for cls in ("cat", "dog"):
        for i in range(10):
            write_png(root / cls / f"{i:02d}.png", value=i * 20 + (cls == "dog"))
    (root / "cat" / "notes.txt").write_text("not an image")
    d = load_dataset(f"folder:{root}")
    assert d.class_names == ["cat", "dog"] and d.name == "pets"
    assert d.x_train.shape == (16, 6, 8, 3) and d.x_test.shape == (4, 6, 8, 3)
    assert sorted(np.bincount(d.y_test)) == [2, 2]
    assert any("skipped 1" in n for n in d.notes)
    again = load_dataset(str(root))
    assert again.fingerprint() == d.fingerprint()
    assert load_dataset(f"folder:{root}", seed=1).fingerprint() != d.fingerprint()


def test_image_folder_train_test_mode_and_size(tmp_path):
    root = tmp_path / "imgs"
    for split, n in (("train", 3), ("test", 1)):
        for cls in ("a", "b"):
            for i in range(n):
                write_png(root / split / cls / f"{i}.png", size=(5, 4), mode="L", value=100)
    write_png(root / "train" / "a" / "big.png", size=(10, 8), mode="RGB", value=50)  # resized, converted
    d = load_dataset("folder", path=str(root))
    assert d.x_train.shape == (7, 4, 5, 1) and d.x_test.shape == (2, 4, 5, 1)
    assert d.class_names == ["a", "b"]
    assert any("resized 1" in n for n in d.notes) and any("converted" in n for n in d.notes)
    assert set(np.unique(d.x_test)) == {100}


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(f"folder:{tmp_path / 'empty'}")
    assert "empty image folder" in one_line_naming(e, "empty")
    root = tmp_path / "r"
    write_png(root / "a" / "1.png")
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as e:
        load_dataset(f"folder:{root}")
    assert "empty class folder" in one_line_naming(e, str(root / "b"))
    (root / "b" / "2.png").write_bytes(b"not really a png")
    with pytest.raises(DataError) as e:
        load_dataset(f"folder:{root}")
    one_line_naming(e, "2.png")
    with pytest.raises(DataError) as e:
        load_dataset(f"folder:{tmp_path / 'nope'}")
    one_line_naming(e, "nope")


# ---------------------------------------------------------------------------------------------
# digits, sample, subset, limit, fingerprint, names
# ---------------------------------------------------------------------------------------------

def test_digits():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (8, 8, 1) and d.x_train.dtype == np.uint8
    assert len(d.x_train) + len(d.x_test) == 1797 and abs(len(d.x_test) - 359) <= 10
    assert d.value_range == 16.0 and d.x_train.max() == 16 and d.num_classes == 10
    assert set(np.unique(d.y_test)) == set(range(10))
    assert load_dataset("digits").fingerprint() == d.fingerprint()
    assert load_dataset("digits", seed=3).fingerprint() != d.fingerprint()


def test_embedded_sample():
    for name in ("sample", None, "default"):
        d = load_dataset(name)
        assert d.name == "fashion_mnist_sample" and d.source == "embedded sample"
        assert d.x_train.shape == (3000, 28, 28, 1) and d.x_test.shape == (1000, 28, 28, 1)
        assert d.num_classes == 10 and d.class_names == D.FASHION_MNIST_CLASSES
    assert list(np.bincount(d.y_train)) == [300] * 10 and list(np.bincount(d.y_test)) == [100] * 10
    assert D.SAMPLE_PATH.stat().st_size < 2.5e6
    assert d.x_train.std() > 30  # real pictures, not zeros


def test_limit_and_subset():
    full = load_dataset("sample")
    d = load_dataset("sample", limit=50)
    assert d.x_train.shape[0] == 50 and d.x_test.shape[0] == 50
    np.testing.assert_array_equal(d.x_train, full.x_train[:50])
    s = full.subset(train=100, test=30, seed=1)
    assert len(s.y_train) == 100 and len(s.y_test) == 30
    assert list(np.bincount(s.y_train)) == [10] * 10
    assert s.fingerprint() == full.subset(train=100, test=30, seed=1).fingerprint()
    assert s.fingerprint() != full.subset(train=100, test=30, seed=2).fingerprint()
    assert full.subset().fingerprint() == full.fingerprint()
    assert full.subset(train=10**9).x_train.shape == full.x_train.shape
    with pytest.raises(DataError):
        load_dataset("sample", limit=0)
    with pytest.raises(DataError):
        full.subset(train=-1)


def test_fingerprint_changes_with_data():
    d = load_dataset("sample", limit=20)
    fp = d.fingerprint()
    assert len(fp) == 16 and fp == load_dataset("sample", limit=20).fingerprint()
    x = d.x_train.copy()
    x[0, 0, 0, 0] ^= 1
    assert Dataset(**{**d.__dict__, "x_train": x}).fingerprint() != fp
    assert Dataset(**{**d.__dict__, "class_names": ["z"] + d.class_names[1:]}).fingerprint() != fp
    y = d.y_test.copy()
    y[0] = (y[0] + 1) % 10
    assert Dataset(**{**d.__dict__, "y_test": y}).fingerprint() != fp


def test_unknown_name_suggests():
    with pytest.raises(DataError) as e:
        load_dataset("cifar1O")
    s = one_line_naming(e, "did you mean")
    assert "cifar10" in s
    assert "sample" in dataset_names() and "npz:PATH" in dataset_names()


@pytest.mark.parametrize("name", ["sample", "default", "digits"])
def test_data_path_for_a_built_in_dataset_is_refused_not_ignored(tmp_path, name):
    with pytest.raises(DataError) as e:
        load_dataset(name, path=str(tmp_path))
    s = one_line_naming(e, "would be ignored")
    assert "npz:PATH" in s


def test_data_path_beside_a_prefixed_path_is_refused(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(f"npz:{tmp_path / 'a.npz'}", path=str(tmp_path / "b.npz"))
    assert "already names its files" in one_line_naming(e, "--data-path")


def test_import_does_not_pull_tensorflow_or_keras():
    code = ("import sys, cnnspec.data as d; d.load_dataset('sample', limit=5); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(Path(__file__).resolve().parents[1]), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(D, "SYSTEM_DIRS", {"fashion_mnist": [DEBIAN_FASHION]})
    d = load_dataset("fashion_mnist")
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert list(np.bincount(d.y_test)) == [1000] * 10 and d.source == str(DEBIAN_FASHION)


# ---------------------------------------------------------------------------------------------
# Fuzz: arbitrary bytes in any slot give a DataError or a dataset, never another exception
# ---------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=200), gz=st.booleans(), slot=st.sampled_from(
    ["idx", "npz", "cifar_meta", "cifar_batch", "cifar_tar"]))
def test_fuzz_never_a_traceback(tmp_path_factory, blob, gz, slot):
    tmp = tmp_path_factory.mktemp("fuzz")
    payload = gzip.compress(blob) if gz else blob
    try:
        if slot == "idx":
            write_idx_set(tmp / "fm", n_train=2, n_test=1)
            (tmp / "fm" / "train-labels-idx1-ubyte.gz").write_bytes(payload)
            load_dataset("fashion_mnist", path=str(tmp / "fm"))
        elif slot == "npz":
            (tmp / "x.npz").write_bytes(b"PK\x03\x04" + payload)
            load_dataset(f"npz:{tmp / 'x.npz'}")
        elif slot in ("cifar_meta", "cifar_batch"):
            d = write_cifar10(tmp, per_batch=1, n_test=1)
            (d / ("batches.meta" if slot == "cifar_meta" else "test_batch")).write_bytes(payload)
            load_dataset("cifar10", path=str(d))
        else:
            (tmp / "cifar-10-python.tar.gz").write_bytes(payload)
            load_dataset("cifar10", path=str(tmp / "cifar-10-python.tar.gz"))
    except DataError as e:
        assert "\n" not in str(e)


def test_mnist_download_fallback_failure_is_one_line(monkeypatch):
    import types

    def boom():
        raise OSError("Network is unreachable\nsecond line")

    fake_keras = types.ModuleType("keras")
    fake_ds = types.ModuleType("keras.datasets")
    fake_ds.mnist = types.SimpleNamespace(load_data=boom)
    fake_keras.datasets = fake_ds
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setitem(sys.modules, "keras.datasets", fake_ds)
    monkeypatch.setenv("CNNSPEC_DOWNLOAD", "1")
    with pytest.raises(DataError) as e:
        load_dataset("mnist")
    s = one_line_naming(e, "load_data() (download) failed: OSError")
    assert "mnist.npz" in s


def test_mnist_download_fallback_success(monkeypatch):
    import types

    data = ((np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 9], np.uint8)),
            (np.zeros((2, 28, 28), np.uint8), np.array([5, 5], np.uint8)))
    fake_keras = types.ModuleType("keras")
    fake_ds = types.ModuleType("keras.datasets")
    fake_ds.mnist = types.SimpleNamespace(load_data=lambda: data)
    fake_keras.datasets = fake_ds
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    monkeypatch.setitem(sys.modules, "keras.datasets", fake_ds)
    monkeypatch.setenv("CNNSPEC_DOWNLOAD", "1")
    d = load_dataset("mnist")
    assert d.x_train.shape == (3, 28, 28, 1) and d.source == "keras.datasets.mnist"


# ---- decompression amplification: headers are read before anything is allocated ----------------

def test_npz_bomb_refused_before_inflating(tmp_path):
    """A small compressed .npz whose arrays cannot fit in the memory allowed is refused in one line."""
    p = tmp_path / "bomb.npz"
    np.savez_compressed(p, x_train=np.zeros((200, 1000, 1000), np.uint8), y_train=np.zeros(200, np.int64),
                        x_test=np.zeros((1, 1000, 1000), np.uint8), y_test=np.zeros(1, np.int64))
    assert p.stat().st_size < 2_000_000
    code = ("import sys\nfrom cnnspec.data import load_dataset\n"
            f"try:\n    load_dataset('npz:{p}')\nexcept Exception as e:\n    print(type(e).__name__, e); sys.exit(2)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "CNNSPEC_MAX_MEMORY": str(50_000_000)}, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stdout.startswith("DataError") and "refusing to load it" in out.stdout and str(p) in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_gzip_idx_header_claiming_terabytes_refused(tmp_path):
    """An IDX .gz whose header declares a huge array is refused before its body is decompressed."""
    p = tmp_path / "train-images-idx3-ubyte.gz"
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (4_000_000_000, 1000, 1000))
    p.write_bytes(gzip.compress(header + b"\0" * 1000))
    with pytest.raises(DataError, match="refusing to load it"):
        read_idx(p, 2051)


def test_image_folder_pixel_limit(tmp_path, monkeypatch):
    """Images above the pixel limit are refused from their header, before decoding."""
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "imgs" / c / "small.png")
    Image.new("L", (300, 200)).save(tmp_path / "imgs" / "b" / "big.png")
    monkeypatch.setenv("CNNSPEC_MAX_IMAGE_PIXELS", "10000")
    with pytest.raises(DataError, match=r"300x200 pixels, more than the limit of 10000") as ei:
        load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert "big.png" in str(ei.value)
    monkeypatch.setenv("CNNSPEC_MAX_IMAGE_PIXELS", "100000")
    assert load_dataset(f"folder:{tmp_path / 'imgs'}").num_classes == 2


def test_new_dataset_is_one_registered_class(tmp_path):
    """Registering a Source subclass is all it takes for load_dataset and dataset_names to know it."""
    from cnnspec.data import REGISTRY, Source, register
    from cnnspec.data.dataset import build

    @register
    class Tiny(Source):
        """Four 2x2 images."""

        name = "tiny_test_set"
        aliases = ("tiny",)

        def load(self, path, seed):
            x = np.arange(16, dtype=np.uint8).reshape(4, 2, 2)
            return build(self.name, x, [0, 1, 0, 1], x, [1, 0, 1, 0], ["a", "b"], "test", None)

    try:
        assert "tiny_test_set" in dataset_names()
        assert load_dataset("tiny").x_train.shape == (4, 2, 2, 1)
    finally:
        REGISTRY.pop("tiny_test_set")
