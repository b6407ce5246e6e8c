"""Decoded-image cache: every image decoded once, resized by the card's policy to the
training resolution, and kept as one uint8 array [N, S, S, 3] on disk, so an epoch on two
cores is spent training rather than decoding JPEGs.

The cache key covers each file's path, size and mtime, the resolution and the resize policy:
a changed image or setting builds a new cache. Files are written to a temporary name and
renamed, so an interrupted build leaves no half-written cache.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..preprocess import RESIZE_POLICY, load_image, resize_center_crop
from .ham10000 import Record

CACHE_VERSION = 1


def cache_root() -> Path:
    return Path(os.environ.get("SKINEDGE_CACHE", Path.home() / ".cache" / "skinedge"))


def _key(paths: Sequence[Path], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{RESIZE_POLICY}:{size}\n".encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _decode_one(path: Path, size: int) -> np.ndarray:
    return resize_center_crop(load_image(path), size)


def decode_paths(paths: Sequence[Path], size: int, progress: bool = True,
                 desc: str = "decode") -> np.ndarray:
    """Decode ``paths`` to uint8 [N, size, size, 3]; raises DataError naming a bad file."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        it = pool.map(lambda p: _decode_one(p, size), paths)
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
