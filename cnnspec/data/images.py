"""Image folders as datasets: one sub-folder per class (optionally under train/ and test/).

Two passes: headers first (sizes, modes; images above MAX_IMAGE_PIXELS are refused before any
decoding, and the whole array must fit in memory), then decode, convert and resize.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from cnnspec.data.dataset import (Dataset, max_image_pixels, build, data_error, ensure_fits, one_line,
                                  stratified_split)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg"}
TEST_FRACTION = 0.2

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _class_dirs(root: Path) -> list[Path]:
    try:
        return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name)
    except OSError as e:
        raise data_error(f"cannot list folder: {e.strerror or e}", root) from e


def _scan_split(root: Path, class_names: list[str] | None) -> tuple[list[tuple[Path, int]], list[str], int]:
    """(file, label) pairs in a folder of class folders, the class names, and skipped files."""
    dirs = _class_dirs(root)
    if not dirs:
        raise data_error("empty image folder: expected one sub-folder per class holding PNG/JPEG files", root)
    names = [d.name for d in dirs]
    if class_names is None:
        class_names = names
    else:
        extra = [n for n in names if n not in class_names]
        if extra:
            raise data_error(f"class folder(s) {', '.join(extra)} not in train/ ({', '.join(class_names)})", root)
    items, skipped = [], 0
    for d in dirs:
        label = class_names.index(d.name)
        files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
        imgs = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        skipped += len(files) - len(imgs)
        if not imgs:
            raise data_error("empty class folder: no .png/.jpg/.jpeg images", d)
        items.extend((p, label) for p in imgs)
    return items, class_names, skipped


def load_folder(root: Path, seed: int) -> Dataset:
    """A dataset from an image folder (class sub-folders, optionally under train/ and test/)."""
    try:
        from PIL import Image  # noqa: F401  (lazy: pillow is optional)
    except ImportError as exc:
        raise data_error("image folders need Pillow: pip install pillow") from exc
    if not root.is_dir():
        raise data_error("no such image folder", root)
    has_split = (root / "train").is_dir() and (root / "test").is_dir()
    if has_split:
        train_items, class_names, sk1 = _scan_split(root / "train", None)
        test_items, _, sk2 = _scan_split(root / "test", class_names)
        skipped, items = sk1 + sk2, train_items + test_items
    else:
        items, class_names, skipped = _scan_split(root, None)
    sizes, modes = _headers(items)
    size = sizes.most_common(1)[0][0]  # ties: the size seen first (files are in sorted order)
    mode = "L" if modes["L"] > modes["RGB"] else "RGB"
    ensure_fits(len(items) * size[0] * size[1] * (1 if mode == "L" else 3), f"{len(items)} images", root)
    x = _decode_all(items, size, mode)
    y = np.asarray([lab for _, lab in items], dtype=np.int64)
    notes = [f"skipped {skipped} non-image file(s)"] if skipped else []
    resized = sum(n for s, n in sizes.items() if s != size)
    if resized:
        notes.append(f"resized {resized} image(s) to {size[0]}x{size[1]}")
    if sum(modes.values()) != max(modes.values()):
        notes.append(f"converted all images to {mode}")
    if has_split:
        n = len(train_items)
        rng = np.random.default_rng(seed)
        tr, te = rng.permutation(n), n + rng.permutation(len(test_items))
    else:
        tr, te = stratified_split(y, TEST_FRACTION, seed)
    return build(root.name or str(root), x[tr], y[tr], x[te], y[te], class_names, str(root), root,
                 value_range=255.0, notes=notes)


def _headers(items: list) -> tuple[Counter, Counter]:
    """Pass 1, headers only: how many images have each size and each mode (gray or RGB)."""
    from PIL import Image, UnidentifiedImageError

    limit = max_image_pixels()
    sizes, modes = Counter(), Counter()
    for p, _ in items:
        try:
            with Image.open(p) as im:
                if im.size[0] * im.size[1] > limit:
                    raise data_error(f"image is {im.size[0]}x{im.size[1]} pixels, more than the limit of "
                                     f"{limit} (CNNSPEC_MAX_IMAGE_PIXELS); refusing to decode it", p)
                sizes[im.size] += 1
                modes["L" if im.mode in _GRAY_MODES else "RGB"] += 1
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise data_error(f"not a readable image ({one_line(e)[:100]})", p) from e
    return sizes, modes


def _decode_all(items: list, size: tuple[int, int], mode: str) -> np.ndarray:
    """Pass 2: decode every image, converted to ``mode`` and resized to ``size`` (uint8, N x H x W x C)."""
    from PIL import Image, UnidentifiedImageError

    x = np.empty((len(items), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, (p, _) in enumerate(items):
        try:
            with Image.open(p) as im:
                if im.mode in ("I", "I;16", "I;16B", "I;16L", "F") and mode == "L":
                    arr = np.asarray(im, dtype=np.float64)
                    hi = 65535.0 if im.mode.startswith("I") and arr.max(initial=0) > 255 else 255.0
                    im2 = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8), "L")
                else:
                    im2 = im.convert(mode)
                if im2.size != size:
                    im2 = im2.resize(size, Image.Resampling.BILINEAR)
                a = np.asarray(im2, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise data_error(f"corrupt image ({one_line(e)[:100]})", p) from e
        x[i] = a.reshape(x.shape[1:])
    return x
