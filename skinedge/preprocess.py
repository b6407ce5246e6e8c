"""Image decoding and resizing: the one preprocessing path shared by training, evaluation,
the predict API and (through the model card) the mobile apps.

Policy (named in every model card as ``resize``): decode, apply EXIF orientation, convert to
8-bit RGB, resize so the shorter side equals the model's input size (bilinear, antialiased),
then center-crop a square. Normalization (mean/std) is inside the model graph, so callers feed
RGB values scaled to [0, 1].
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError

RESIZE_POLICY = "shorter_side_then_center_crop"
INTERPOLATION = "bilinear"
# Bump whenever model_image's output pixels change: it is part of the image cache's key, so
# cached arrays from an older preprocessing are never mixed with freshly decoded ones.
PREPROCESS_VERSION = 1
# Pillow's own bomb check warns at ~89 MP and errors at twice that; we want a clear error
# earlier, before any pixels are decoded: 50 MP is well above any dermatoscope photo.
MAX_PIXELS = 50_000_000
MIN_SIDE = 8

ImageInput = Union[str, Path, Image.Image, np.ndarray]


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F...) to 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white: a transparent background is not skin, but black would be a lesion.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise DataError(
            f"{name}: image is {w}x{h} ({w * h / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP "
            "limit (possible decompression bomb); downscale it first"
        )
    if min(w, h) < MIN_SIDE:
        raise DataError(f"{name}: image is {w}x{h}, too small to classify (min side {MIN_SIDE} px)")


def load_image(src: ImageInput, name: str | None = None) -> Image.Image:
    """Decode ``src`` (path, PIL image or HxW / HxWxC uint8/uint16/float array) to RGB.

    Raises DataError naming the file for a missing, empty, truncated, non-image,
    too-large or too-small input.
    """
    if isinstance(src, (str, Path)):
        path = Path(src)
        name = name or str(path)
        if not path.is_file():
            raise DataError(f"{name}: file not found")
        data = path.read_bytes()
        if not data:
            raise DataError(f"{name}: file is empty (0 bytes)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                _check_size(img.size, name)
                img.load()
        except UnidentifiedImageError:
            raise DataError(f"{name}: not a readable image (unknown or unsupported format)") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise DataError(f"{name}: image too large, possible decompression bomb ({exc})") from None
        except OSError as exc:  # truncated or corrupt JPEG/PNG data
            raise DataError(f"{name}: corrupt or truncated image ({exc})") from None
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    if isinstance(src, Image.Image):
        name = name or "<PIL image>"
        _check_size(src.size, name)
        return _to_rgb(ImageOps.exif_transpose(src))
    if isinstance(src, np.ndarray):
        return _array_to_image(src, name or "<array>")
    raise DataError(f"{name or '<input>'}: unsupported input type {type(src).__name__}; "
                    "pass a file path, a PIL image or a numpy array")


def _array_to_image(arr: np.ndarray, name: str) -> Image.Image:
    """HxW or HxWxC (C in 1, 3, 4) array; uint8, uint16, or float in [0, 1]."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise DataError(f"{name}: array of shape {arr.shape} is not HxW or HxWx3/4 (RGB order)")
    _check_size((arr.shape[1], arr.shape[0]), name)
    if arr.dtype == np.uint8:
        a8 = arr
    elif arr.dtype == np.uint16:
        a8 = (arr.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise DataError(f"{name}: float array contains NaN or inf")
        a8 = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise DataError(f"{name}: unsupported array dtype {arr.dtype} (use uint8, uint16 or float)")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a8)))


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """RGB PIL image -> uint8 array [size, size, 3] by the card's resize policy."""
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def model_image(src: ImageInput, size: int, name: str | None = None) -> np.ndarray:
    """Any supported input -> uint8 [size, size, 3] RGB by the card's policy. The one path every
    caller takes (the predict API, the image cache behind eval, training, export and bench), so
    a file gives the model the same bytes whichever way it arrives."""
    return resize_center_crop(load_image(src, name), size)


def to_model_input(batch_hwc: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [0, 1] (the exported graphs' input)."""
    return np.ascontiguousarray(batch_hwc.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
