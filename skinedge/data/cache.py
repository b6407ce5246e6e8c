"""Decoded-image cache: every image decoded once, resized by the card's policy to the
training resolution, and kept as one uint8 array [N, S, S, 3] on disk, so an epoch on two
cores is spent training rather than decoding JPEGs.

Where: ``$SKINEDGE_CACHE``, else ``~/.cache/skinedge``. How much: at most
``$SKINEDGE_CACHE_MAX`` bytes (default 5 GiB; "500M", "2G" also read; 0 turns caching off).
Before an entry is written, the least recently used entries (by the time of their last
read or write) are deleted until it fits; an entry larger than the whole cap is not kept.
``skinedge cache info`` and ``skinedge cache clear`` show and empty it.

Entries are marked: ``images_{S}px_{KEY}.npy`` (KEY: 24 hex digits) beside
``images_{S}px_{KEY}.json``, which records the key, the array's shape and the sha256 of its
bytes. Only a marked entry is ever read, evicted or cleared, and only temporary files named as
this module's writes name them (``.images_{S}px_{KEY}.tmp{PID}.npy``, an hour old) are
removed: any other file in the folder is left alone, whatever its name. An entry whose bytes no
longer match its checksum is never used: it is decoded again, with a warning.

The cache key covers each file's path, size and mtime, the resolution, the resize policy,
the preprocessing version and the bytes the preprocessing makes of a fixed probe image: a
changed image, setting, preprocessing code or Pillow/libjpeg build makes a new cache, so a
cached array always equals what ``preprocess.model_image`` (the predict path) gives now.
Entries are written to a temporary name and renamed (``atomic.replacing``), so an
interrupted build leaves no half-written entry.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..atomic import replacing, write_json
from ..errors import ConfigError, SkinedgeError
from ..preprocess import PREPROCESS_VERSION, RESIZE_POLICY, model_image
from .ham10000 import Record

CACHE_VERSION = 2  # the layout of the cache files (2: marked entries with a checksum)
MARK_SCHEMA = "skinedge.cache_entry/1"
DEFAULT_MAX_BYTES = 5 * 2**30  # the full HAM10000 at 224 px is 1.5 GB; at 128 px 0.5 GB
MAX_CAP_BYTES = 2**63 - 1  # a cap beyond this is no size at all
ENTRY = re.compile(r"images_(\d+)px_([0-9a-f]{24})\.npy")
# atomic.replacing's temporary names for an entry or its mark, left by a killed writer
LEFTOVER = re.compile(r"\.images_\d+px_[0-9a-f]{24}\.tmp\d+\.(npy|json)")
LEFTOVER_AGE_S = 3600  # older than this, a temporary file is no write in progress
NPY_HEADER_BYTES = 128  # what np.save puts before the array of a 4-d uint8 array
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def cache_root() -> Path:
    """The cache folder: ``$SKINEDGE_CACHE``, else ``~/.cache/skinedge``."""
    return Path(os.environ.get("SKINEDGE_CACHE") or Path.home() / ".cache" / "skinedge")


def cache_limit() -> int:
    """Bytes the cache may hold: ``$SKINEDGE_CACHE_MAX``, a byte count or a number with K, M,
    G or T (powers of 1024: "500M", "1.5G", "2GiB"); 0 turns caching off. Default 5 GiB."""
    raw = os.environ.get("SKINEDGE_CACHE_MAX", "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?", raw.upper())
    if not m:
        raise ConfigError(f"SKINEDGE_CACHE_MAX={raw[:40]}: not a size; give a byte count or a "
                          "number with K, M, G or T (e.g. 5G), or 0 to turn the cache off")
    value = float(m[1]) * _UNITS[m[2]]
    if not value <= MAX_CAP_BYTES:  # also inf, from hundreds of digits
        raise ConfigError(f"SKINEDGE_CACHE_MAX={raw[:40]}{'...' if len(raw) > 40 else ''}: "
                          f"too large (at most {MAX_CAP_BYTES} bytes, 8 EiB); give a size such "
                          "as 5G, or 0 to turn the cache off")
    return int(value)


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    bytes: int
    last_used_ns: int  # the file's mtime: set when written and on every read


def mark_of(path: Path) -> Path:
    """The mark beside an entry ``images_{S}px_{KEY}.npy``: ``images_{S}px_{KEY}.json``."""
    return path.with_suffix(".json")


def read_mark(path: Path) -> dict | None:
    """The mark of entry ``path`` when the entry is one this module wrote, else None: the
    name is an entry's, and the mark beside it is ours and names it."""
    if not ENTRY.fullmatch(path.name):
        return None
    try:
        mark = json.loads(mark_of(path).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(mark, dict) and mark.get("schema") == MARK_SCHEMA \
        and mark.get("file") == path.name and isinstance(mark.get("sha256"), str)
    return mark if ok else None


def cache_entries(root: Path | None = None) -> list[CacheEntry]:
    """The marked entries in ``root`` (default: the cache folder), least recently used first;
    other files there are not entries, whatever their names."""
    out = []
    for p in Path(root or cache_root()).glob("images_*px_*.npy"):
        if read_mark(p) is None:
            continue
        with contextlib.suppress(FileNotFoundError):  # evicted by another process meanwhile
            st = p.stat()
            out.append(CacheEntry(p, st.st_size, st.st_mtime_ns))
    return sorted(out, key=lambda e: (e.last_used_ns, e.path.name))


def _leftovers(root: Path, min_age_s: float) -> list[Path]:
    """Temporary files of writers killed mid-write (none younger than ``min_age_s``): only
    names this module's writes give them."""
    now, out = time.time(), []
    for p in root.glob(".images_*px_*.tmp*"):
        if not LEFTOVER.fullmatch(p.name):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - p.stat().st_mtime >= min_age_s:
                out.append(p)
    return out


def _delete(entry: Path) -> bool:
    """Delete a marked entry and its mark; False when it was gone already."""
    try:
        entry.unlink()
    except OSError:  # gone already (another process), or not ours to delete after all
        return False
    with contextlib.suppress(OSError):
        mark_of(entry).unlink()
    return True


def _evict(root: Path, budget: int) -> None:
    """Delete least recently used entries until the rest take at most ``budget`` bytes, and
    temporary files left by killed writers. A process that has an evicted entry open or
    memory-mapped keeps reading it (POSIX unlink semantics)."""
    for p in _leftovers(root, LEFTOVER_AGE_S):
        with contextlib.suppress(OSError):
            p.unlink()
    entries = cache_entries(root)
    total = sum(e.bytes for e in entries)
    for e in entries:
        if total <= budget:
            break
        _delete(e.path)
        total -= e.bytes


def clear_cache(root: Path | None = None) -> tuple[int, int]:
    """Delete every marked entry (and leftover temporary file of a write) in the cache
    folder, nothing else there; returns (entries deleted, bytes freed)."""
    root = Path(root or cache_root())
    n = freed = 0
    if root.is_dir():
        for e in cache_entries(root):
            if _delete(e.path):
                n, freed = n + 1, freed + e.bytes
        for p in _leftovers(root, 0):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return n, freed


def entry_shape(path: Path) -> tuple[int, ...] | None:
    """[N, S, S, 3] of an entry, read from its header; None if unreadable."""
    try:
        return tuple(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError):
        return None


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


def _sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr)).hexdigest()


def _read_entry(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The marked entry at ``path`` if its shape and checksum hold, else None (rebuilt by the
    caller; a failed checksum is warned about)."""
    mark = read_mark(path)
    if mark is None or not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None  # unreadable (or evicted meanwhile): rebuilt by the caller
    if arr.shape != shape or arr.dtype != np.uint8:
        return None
    if _sha256(arr) != mark["sha256"]:  # on stderr always: it must never pass unnoticed
        print(f"skinedge: warning: {path}: cached images fail their checksum (the file was "
              "changed or corrupted), so they are not used; decoding them again",
              file=sys.stderr, flush=True)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # its last use, for least-recently-used eviction
    return arr


def _write_entry(path: Path, arr: np.ndarray, limit: int) -> None:
    """Write the entry and then its mark (an entry without its mark is never read)."""
    need = arr.nbytes + NPY_HEADER_BYTES
    if need > limit:
        if limit:
            warnings.warn(f"skinedge: {need / 2**20:.0f} MiB of decoded images exceed the image "
                          f"cache's whole cap ({limit / 2**20:.0f} MiB, SKINEDGE_CACHE_MAX), so "
                          "they are not cached and will be decoded again next time", stacklevel=3)
        return
    mark = {"schema": MARK_SCHEMA, "file": path.name, "shape": list(arr.shape),
            "sha256": _sha256(arr)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _evict(path.parent, limit - need)
        with contextlib.suppress(FileNotFoundError):
            mark_of(path).unlink()  # an old mark must not vouch for the bytes being written
        with replacing(path) as tmp:
            np.save(tmp, arr)
        write_json(mark_of(path), mark)
    except (OSError, SkinedgeError):  # atomic reports OSErrors as OutputError
        with contextlib.suppress(OSError):
            path.unlink()  # a read-only or full cache folder only costs speed


def cached_images(records: Sequence[Record], size: int, progress: bool = True) -> np.ndarray:
    """uint8 [N, size, size, 3] for ``records`` in order, from the cache when possible."""
    paths = [r.path for r in records]
    path = cache_root() / f"images_{size}px_{_key(paths, size)}.npy"
    limit = cache_limit()
    cached = _read_entry(path, (len(paths), size, size, 3))
    if cached is not None:
        return cached
    arr = decode_paths(paths, size, progress, desc=f"caching {len(paths)} images at {size}px")
    _write_entry(path, arr, limit)
    return arr
