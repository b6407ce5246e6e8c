"""Decoded-image cache: every image decoded once, resized by the card's policy to the
training resolution, and kept as one uint8 array [N, S, S, 3] on disk, so an epoch on two
cores is spent training rather than decoding JPEGs.

The cache key covers each file's path, size and mtime, the resolution, the resize policy,
the preprocessing version and the bytes the preprocessing makes of a fixed probe image: a
changed image, setting, preprocessing code or Pillow/libjpeg build makes a new cache, so a
cached array always equals what ``preprocess.model_image`` (the predict path) gives now.
Files are written to a temporary name and renamed, so an interrupted build leaves no
half-written cache.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..preprocess import PREPROCESS_VERSION, RESIZE_POLICY, model_image
from .ham10000 import Record

CACHE_VERSION = 1  # the layout of the cache files


def cache_root() -> Path:
    return Path(os.environ.get("SKINEDGE_CACHE", Path.home() / ".cache" / "skinedge"))


@functools.lru_cache(maxsize=None)
def preprocessing_fingerprint(size: int) -> str:
    """sha256 of what the preprocessing makes of a fixed synthetic JPEG at ``size``: it moves
    with any change of decoder or resampler, even one that forgot PREPROCESS_VERSION."""
    yy, xx = np.mgrid[0:45, 0:60]
    probe = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(probe).save(buf, "JPEG", quality=90)
    return hashlib.sha256(model_image(Image.open(buf), size).tobytes()).hexdigest()


def _key(paths: Sequence[Path], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{RESIZE_POLICY}:{size}:p{PREPROCESS_VERSION}:"
                       f"{preprocessing_fingerprint(size)}\n".encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def decode_paths(paths: Sequence[Path], size: int, progress: bool = True,
                 desc: str = "decode") -> np.ndarray:
    """Decode ``paths`` to uint8 [N, size, size, 3]; raises DataError naming a bad file."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        it = pool.map(lambda p: model_image(p, size), paths)
        for i, arr in enumerate(tqdm(it, total=len(paths), desc=desc, disable=not progress,
                                     unit="img", leave=False)):
            out[i] = arr
    return out


def cached_images(records: Sequence[Record], size: int, progress: bool = True) -> np.ndarray:
    """uint8 [N, size, size, 3] for ``records`` in order, from the cache when possible."""
    paths = [r.path for r in records]
    root = cache_root()
    path = root / f"images_{size}px_{_key(paths, size)}.npy"
    if path.is_file():
        try:
            arr = np.load(path, mmap_mode="r")
            if arr.shape == (len(paths), size, size, 3):
                return arr
        except (OSError, ValueError):
            pass  # unreadable cache: rebuild it below
    arr = decode_paths(paths, size, progress, desc=f"caching {len(paths)} images at {size}px")
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache folder only costs speed
    return arr
