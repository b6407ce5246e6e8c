"""Image decoding and resizing: the one preprocessing path shared by training, evaluation,
the predict API and (through the model card) the mobile apps.

Policy (named in every model card as ``resize``): decode, apply EXIF orientation, convert to
8-bit RGB, resize so the shorter side equals the model's input size (bilinear, antialiased),
then center-crop a square. Normalization (mean/std) is inside the model graph, so callers feed
RGB values scaled to [0, 1].

Work per image is bounded before anything is allocated: at most MAX_PIXELS decoded, an aspect
ratio of at most MAX_ASPECT_RATIO:1, at most MAX_RESIZED_PIXELS after the resize, and a file
is read only as far as its format needs. Accepted value ranges: ``load_image``.
"""
from __future__ import annotations

import math
import stat
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError

RESIZE_POLICY = "shorter_side_then_center_crop"
INTERPOLATION = "bilinear"
# Bump whenever model_image's output pixels change: it is part of the image cache's key, so
# cached arrays from an older preprocessing are never mixed with freshly decoded ones.
# 2: float (mode F) images are read in [0, 1], mode I images in 0..255 (others are refused).
PREPROCESS_VERSION = 2
# Pillow's own bomb check warns at ~89 MP and errors at twice that; we want a clear error
# earlier, before any pixels are decoded: 50 MP is well above any dermatoscope photo.
MAX_PIXELS = 50_000_000
MIN_SIDE = 8
# The policy scales the shorter side to the input size before cropping, so the resize
# allocates in proportion to the aspect ratio (a 4.7 KB PNG of 200000x8 took 1.8 GB). A lesion
# photo is about 4:3; both limits are checked from the header, before anything is allocated.
MAX_ASPECT_RATIO = 10
MAX_RESIZED_PIXELS = 16_000_000  # the resized image before the crop: 48 MB of RGB
# Float values within half a uint8 step outside [0, 1] are rounding noise: they become 0 or 255.
FLOAT_SLACK = 0.5 / 255


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on the work per image, checked from the header before anything is decoded. The
    model card carries them (``image_limits``) so the apps read them from it; a card may
    tighten them, never loosen them past these defaults (a hostile card cannot make an app
    decode a bomb)."""

    max_pixels: int = MAX_PIXELS
    min_side: int = MIN_SIDE
    max_aspect_ratio: int = MAX_ASPECT_RATIO
    max_resized_pixels: int = MAX_RESIZED_PIXELS

    @classmethod
    def of(cls, d: Mapping[str, int] | None) -> "ImageLimits":
        """The limits of a card's ``image_limits`` (defaults for what it leaves out)."""
        return cls(**{**asdict(DEFAULT_LIMITS), **(d or {})})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_LIMITS = ImageLimits()


MAX_MIN_SIDE = 65536  # a card may raise min_side this far (refusing more images is safe)


def check_image_limits(v) -> str:
    """'' when ``v`` (a card's ``image_limits``) is usable: known keys, integers from 1 to the
    default (min_side: to MAX_MIN_SIDE), so a card cannot make an app take on more work."""
    if not isinstance(v, dict):
        return "must be a JSON object"
    unknown = sorted(set(v) - set(asdict(DEFAULT_LIMITS)))
    if unknown:
        return f"has unknown key(s) {', '.join(unknown)}"
    for key, value in v.items():
        top = MAX_MIN_SIDE if key == "min_side" else getattr(DEFAULT_LIMITS, key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            return f"must have {key} an integer from 1 to {top}"
    return ""

ImageInput = Union[str, Path, Image.Image, np.ndarray]


def _check_range(arr: np.ndarray, hi: float, name: str, what: str, hint: str) -> None:
    """Refuse values outside [0, hi] (plus FLOAT_SLACK for floats), naming the range found."""
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{name}: {what} contains NaN or inf")
    lo_found, hi_found = float(arr.min()), float(arr.max())
    slack = FLOAT_SLACK if arr.dtype.kind == "f" else 0
    if lo_found < -slack or hi_found > hi + slack:
        accepted = "[0, 1]" if arr.dtype.kind == "f" else f"0..{hi:g}"
        raise DataError(f"{name}: {what} values span [{lo_found:g}, {hi_found:g}], outside "
                        f"the accepted {accepted}; {hint}")


def _to_uint8(arr: np.ndarray, hi: float) -> np.ndarray:
    """Values in [0, hi] -> uint8 0..255, rounded."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)
    if hi == 1.0:
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.clip(arr.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _grey_to_rgb(img: Image.Image, name: str) -> Image.Image:
    """Modes F (float, [0, 1]), I (32-bit int, 0..255) and I;16* (0..65535) -> RGB."""
    arr = np.asarray(img)
    if img.mode == "F":
        _check_range(arr, 1.0, name, "float image (mode F)",
                     "scale it to [0, 1] first, or save it as 8-bit")
        return Image.fromarray(_to_uint8(arr, 1.0), mode="L").convert("RGB")
    if img.mode == "I":
        _check_range(arr, 255, name, "32-bit integer image (mode I)",
                     "for 16-bit data pass a uint16 array or an I;16 image")
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    return Image.fromarray(_to_uint8(arr, 65535.0), mode="L").convert("RGB")


def _pnm_as_16_bit(img: Image.Image, name: str) -> Image.Image:
    """A PGM/PPM with a maxval over 255, which Pillow opens as mode I rescaled to 0..65535
    (its PPM decoder's contract), as the 16-bit image it is (I;16). Mode I in general is read
    as 0..255; this is the one source of mode I whose range is known. Call before anything
    copies ``img``: a copy no longer knows its format."""
    if img.mode != "I" or img.format != "PPM":
        return img
    arr = np.asarray(img)
    _check_range(arr, 65535, name, "16-bit PGM image (mode I)", "save it as 8- or 16-bit")
    return Image.fromarray(arr.astype(np.uint16))


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    """Convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F...) to 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _grey_to_rgb(img, name)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white: a transparent background is not skin, but black would be a lesion.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError as exc:  # e.g. LAB: Pillow has no conversion to RGB
        raise DataError(f"{name}: image mode {img.mode} is not supported ({exc})") from None


def _check_size(size: tuple[int, int], name: str, limits: ImageLimits = DEFAULT_LIMITS) -> None:
    w, h = size
    if w * h > limits.max_pixels:
        raise DataError(
            f"{name}: image is {w}x{h} ({w * h / 1e6:.0f} MP), over the "
            f"{limits.max_pixels / 1e6:g} MP limit (possible decompression bomb); downscale it "
            "first"
        )
    if min(w, h) < limits.min_side:
        raise DataError(f"{name}: image is {w}x{h}, too small to classify (min side "
                        f"{limits.min_side} px)")
    if max(w, h) > limits.max_aspect_ratio * min(w, h):
        raise DataError(f"{name}: image is {w}x{h}, aspect ratio {aspect_ratio(w, h)}, over the "
                        f"{limits.max_aspect_ratio}:1 limit (a lesion photo is about 4:3); "
                        "crop it to the lesion first")


def aspect_ratio(w: int, h: int) -> str:
    """The longer side over the shorter, exactly: "1001:100", "25000:1" (never rounded to the
    limit it breaks)."""
    g = math.gcd(w, h) or 1
    return f"{max(w, h) // g}:{min(w, h) // g}"


def _read_error(name: str, exc: OSError) -> DataError:
    if exc.errno is None:  # Pillow's decoders raise OSErrors without an errno for bad data
        return DataError(f"{name}: corrupt or truncated image ({exc})")
    return DataError(f"{name}: cannot read the file: {exc.strerror}")


def _decode(f, name: str, limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    """An open binary file -> decoded RGB image. Image.open reads only the header it needs to
    identify the format, so the size checks run before the pixels are read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(f)
            _check_size(img.size, name, limits)
            img.load()
    except UnidentifiedImageError:
        raise DataError(f"{name}: not a readable image (unknown or unsupported format)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{name}: image too large, possible decompression bomb ({exc})") from None
    except (SyntaxError, EOFError, ValueError) as exc:  # malformed headers or tiles
        raise DataError(f"{name}: corrupt or truncated image ({exc})") from None
    except OSError as exc:
        raise _read_error(name, exc) from None
    return _to_rgb(ImageOps.exif_transpose(_pnm_as_16_bit(img, name)), name)


def _load_file(path: Path, name: str, limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{name}: file not found") from None
    except OSError as exc:  # name too long, permission denied on a folder, I/O error
        raise _read_error(name, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{name}: is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{name}: not a regular file")
    try:
        with path.open("rb") as f:
            if not f.read(1):  # not st_size: /proc and FUSE files may report 0
                raise DataError(f"{name}: file is empty (0 bytes)")
            f.seek(0)
            return _decode(f, name, limits)
    except OSError as exc:  # from open() or the first read: permission denied, I/O error
        raise _read_error(name, exc) from None


def _from_pil(img: Image.Image, name: str, limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    _check_size(img.size, name, limits)
    try:
        img.load()
    except ValueError as exc:  # "Operation on closed image"
        raise DataError(f"{name}: cannot read the image: {exc}") from None
    except OSError as exc:  # a lazily opened file that turns out corrupt or unreadable
        raise _read_error(name, exc) from None
    return _to_rgb(ImageOps.exif_transpose(_pnm_as_16_bit(img, name)), name)


def _display_name(src, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, Path)):
        return str(src)
    if isinstance(src, Image.Image):
        return "<PIL image>"
    return "<array>" if isinstance(src, np.ndarray) else "<input>"


def load_image(src: ImageInput, name: str | None = None,
               limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    """Decode ``src`` to an RGB PIL image. Accepted inputs and value ranges:

    - a file path (JPEG, PNG, TIFF, ... anything Pillow reads; the first frame);
    - a PIL image: 8-bit modes (L, P, RGB, RGBA, LA, CMYK, ...) as they are, I;16 as 0..65535,
      I (32-bit int) as 0..255, F (32-bit float) as [0, 1]; a 16-bit PGM (maxval over 255),
      which Pillow opens as mode I scaled to 0..65535, as 0..65535 like I;16;
    - a numpy array HxW or HxWxC (C = 1, 3 or 4, RGB(A) order): uint8 0..255,
      uint16 0..65535, float in [0, 1].

    Transparent pixels are composited on white. Values outside these ranges (a float image
    holding 0..255, say) are refused with the range found, never clipped or rescaled silently.
    Raises DataError naming the file for a missing, unreadable, empty, truncated, non-image,
    too-large, too-small or too-elongated input (``limits``: the card's, default the SDK's).
    """
    name = _display_name(src, name)
    if isinstance(src, (str, Path)):
        return _load_file(Path(src), name, limits)
    if isinstance(src, Image.Image):
        return _from_pil(src, name, limits)
    if isinstance(src, np.ndarray):
        return _array_to_image(src, name, limits)
    raise DataError(f"{name}: unsupported input type {type(src).__name__}; "
                    "pass a file path, a PIL image or a numpy array")


def _array_to_image(arr: np.ndarray, name: str,
                    limits: ImageLimits = DEFAULT_LIMITS) -> Image.Image:
    """HxW or HxWxC (C in 1, 3, 4) array; uint8, uint16, or float in [0, 1]."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise DataError(f"{name}: array of shape {arr.shape} is not HxW or HxWx3/4 (RGB order)")
    _check_size((arr.shape[1], arr.shape[0]), name, limits)
    if arr.dtype == np.uint8:
        a8 = arr
    elif arr.dtype == np.uint16:
        a8 = _to_uint8(arr, 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        _check_range(arr, 1.0, name, "float array",
                     "divide 0..255 data by 255, or pass a uint8 array")
        a8 = _to_uint8(arr, 1.0)
    else:
        raise DataError(f"{name}: unsupported array dtype {arr.dtype} (use uint8, uint16 or float)")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a8)), name)


def resized_shape(w: int, h: int, size: int) -> tuple[int, int]:
    """(width, height) of a w x h image after the shorter side is scaled to ``size``."""
    scale = size / min(w, h)
    return max(size, round(w * scale)), max(size, round(h * scale))


def resize_center_crop(img: Image.Image, size: int, name: str = "<image>",
                       limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """RGB PIL image -> uint8 array [size, size, 3] by the card's resize policy. Raises
    DataError, before allocating, when the resized image would exceed max_resized_pixels."""
    w, h = img.size
    nw, nh = resized_shape(w, h, size)
    if nw * nh > limits.max_resized_pixels:
        raise DataError(f"{name}: a {w}x{h} image resized to the model's {size} px input would "
                        f"be {nw}x{nh} ({nw * nh / 1e6:.0f} MP) before the crop, over the "
                        f"{limits.max_resized_pixels / 1e6:g} MP limit; crop it to the lesion "
                        "first")
    img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def model_image(src: ImageInput, size: int, name: str | None = None) -> np.ndarray:
    """Any supported input -> uint8 [size, size, 3] RGB by the card's policy. The one path every
    caller takes (the predict API, the image cache behind eval, training, export and bench), so
    a file gives the model the same bytes whichever way it arrives."""
    name = _display_name(src, name)
    return resize_center_crop(load_image(src, name), size, name)


def to_model_input(batch_hwc: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [0, 1] (the exported graphs' input)."""
    return np.ascontiguousarray(batch_hwc.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
