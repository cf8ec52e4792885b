"""Image files -> raw model input pixels, with the size checked before anything is decoded.

TensorFlow-free (Pillow only). One function does it for ``predict``, ``serve`` and the Keras
path, so every engine sees the same pixels:

* the header is read first (``Image.open`` is lazy) and an image above ``max_pixels``
  (default :data:`DEFAULT_MAX_PIXELS`, 40 megapixels) is refused with :class:`ImageTooLarge`
  before a single row is decompressed: a 9000x9000 PNG of a few hundred KB never becomes
  243 MB of pixels (a decompression bomb);
* 16-bit images (PNG ``I;16``, TIFF ``I``) are *scaled* to 8 bits (``round(v / 257)``), not
  clipped, so the 8-bit and 16-bit versions of one image give the same prediction;
* transparency is flattened onto white, EXIF orientation applied, channels converted to the
  model's (1 -> L, 3 -> RGB, 4 -> RGBA) and the image resized (bilinear) to the input size.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Sequence

from cnnspec.errors import DataError

#: Largest image (width x height) decoded by default; ``--max-pixels`` changes it.
DEFAULT_MAX_PIXELS = 40_000_000
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class InputError(DataError):
    """An input array or image that the model cannot take (wrong shape, dtype, not an image)."""


class ImageTooLarge(InputError):
    """An image whose header announces more pixels than the configured limit (HTTP 413)."""


def _open(image, name: str | None):
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        if not len(image):
            raise InputError("empty image")
        return Image.open(io.BytesIO(bytes(image)))
    require_files([name])
    return Image.open(name)


def require_files(paths) -> None:
    """Refuse the first path that is not an existing file (one line, InputError), before any work."""
    for p in paths:
        if not Path(p).is_file():
            raise InputError("no such image file", file=str(p))


def check_image_size(img, max_pixels: int, name: str | None = None) -> None:
    """Refuse an (unloaded) image whose header announces more than ``max_pixels`` pixels."""
    w, h = img.size
    if w * h > max_pixels:
        raise ImageTooLarge(f"image is {w}x{h} ({w * h / 1e6:.1f} megapixels), above the limit of "
                            f"{max_pixels / 1e6:g} megapixels", file=name)


def _to_8bit(img):
    """16-bit gray -> 8-bit gray by scaling (``round(v / 257)``), everything else unchanged."""
    import numpy as np
    from PIL import Image

    if img.mode not in _SIXTEEN_BIT_MODES:
        return img
    arr = np.asarray(img, dtype=np.float64)
    arr = np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _convert(img, mode: str, size: tuple[int, int]):
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)
    img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        if mode != "RGBA":  # flatten transparency onto white, as a viewer shows it
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba)
    img = img.convert(mode)
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return img


def preprocess_image(image, input_shape: Sequence[int], *,
                     max_pixels: int = DEFAULT_MAX_PIXELS):
    """A path, bytes or PIL image -> raw (H, W, C) float32 pixels (0..255) for ``input_shape``.

    Raises :class:`ImageTooLarge` (before decoding) above ``max_pixels`` and
    :class:`InputError` for anything that is not a readable image.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if len(input_shape) != 3:
        raise InputError(f"image inputs need an (H, W, C) model input, this one is {list(input_shape)}")
    h, w, c = (int(d) for d in input_shape)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise InputError(f"images cannot feed a model with {c} channels")
    name = None if isinstance(image, (bytes, bytearray, memoryview, Image.Image)) else str(image)
    try:
        with warnings.catch_warnings():
            # Our own limit is checked below; Pillow's bomb check stays as a second line.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open(image, name)
            check_image_size(img, max_pixels, name)
            img.load()
            img = _convert(img, mode, (w, h))
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image too large to decode ({' '.join(str(exc).split())[:120]})",
                            file=name) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        kind = "not a readable image" if isinstance(exc, UnidentifiedImageError) else \
            f"unreadable image ({type(exc).__name__})"
        raise InputError(kind, file=name) from exc
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr
