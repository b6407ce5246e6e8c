"""``skinedge cache info | clear``: the decoded-image cache (``data/cache.py``)."""
from __future__ import annotations

import json
import os
import time


def add_cache(sub) -> None:
    p = sub.add_parser("cache", help="show or clear the decoded-image cache",
                       description="Training, eval, export and bench keep every image set they "
                       "decode as one array on disk, in $SKINEDGE_CACHE (default "
                       "~/.cache/skinedge), capped at $SKINEDGE_CACHE_MAX bytes (default 5G; "
                       "K, M, G, T suffixes; 0 turns the cache off). The least recently used "
                       "entries go first when a new one needs room.")
    s = p.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = s.add_parser("info", help="location, cap, size and entries",
                        description="Where the cache is, its cap, what it holds, and when "
                        "each entry was last used.")
    info.add_argument("--json", action="store_true", help="print the same as JSON")
    info.set_defaults(func=_run_info)
    clear = s.add_parser("clear", help="delete every cached entry",
                         description="Delete the cache's entries (each marked by the JSON file "
                         "beside it) and the temporary files of interrupted writes; any other "
                         "file in the folder is left alone, whatever its name. The next command "
                         "decodes its images again.")
    clear.set_defaults(func=_run_clear)


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024:
            break
    return f"{n:.1f} {unit}"


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def cache_info() -> dict:
    """The cache's location, cap and entries (least recently used first), as plain data."""
    from .cache import cache_entries, cache_limit, cache_root, entry_shape

    root = cache_root()
    entries = []
    for e in cache_entries(root) if root.is_dir() else []:
        shape = entry_shape(e.path) or (None, None)
        entries.append({"file": e.path.name, "bytes": e.bytes, "images": shape[0],
                        "px": shape[1], "last_used": time.strftime(
                            "%Y-%m-%d %H:%M:%S", time.localtime(e.last_used_ns / 1e9))})
    return {"location": str(root),
            "location_from": "SKINEDGE_CACHE" if os.environ.get("SKINEDGE_CACHE") else "default",
            "limit_bytes": cache_limit(),
            "limit_from": ("SKINEDGE_CACHE_MAX" if os.environ.get("SKINEDGE_CACHE_MAX", "").strip()
                           else "default"),
            "bytes": sum(e["bytes"] for e in entries), "entries": entries}


def _run_info(a) -> int:
    from ..card import printable

    i = cache_info()
    if a.json:
        print(json.dumps(i, indent=2))
        return 0
    print(printable(f"location  {i['location']}  ({i['location_from']})"))
    print(f"cap       {_size(i['limit_bytes'])}  ({i['limit_from']})")
    print(f"used      {_size(i['bytes'])} in {_entries(len(i['entries']))}")
    for e in i["entries"]:
        what = f"{e['images']} images at {e['px']} px" if e["images"] is not None else "unreadable"
        print(f"  {e['last_used']}  {_size(e['bytes']):>10}  {what:28}  {e['file']}")
    return 0


def _run_clear(a) -> int:
    from ..card import printable
    from .cache import cache_root, clear_cache

    n, freed = clear_cache()
    print(printable(f"removed {_entries(n)} ({_size(freed)}) from {cache_root()}"))
    return 0
