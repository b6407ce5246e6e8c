"""Writes that an interruption cannot leave half done: every file and folder the package
writes goes through here (a temporary name beside the target, then one rename)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator


def _tmp_name(path: Path, tag: str = "tmp") -> Path:
    # Hidden, same folder (rename stays on one file system), same suffix (writers such as
    # matplotlib and Pillow pick the format from it), unique per process.
    return path.with_name(f".{path.stem}.{tag}{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """``with replacing(p) as tmp: write(tmp)``: ``p`` appears whole, or is left as it was."""
    path = Path(path)
    if path.exists() and not (path.is_file() or path.is_dir()):  # /dev/null, a FIFO: no rename
        yield path
        return
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, doc, indent: int | None = 2) -> None:
    write_text(path, json.dumps(doc, indent=indent) + "\n")


def write_folder(dest: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_dir)`` then swap ``tmp_dir`` in for ``dest`` with two renames."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = _tmp_name(dest), _tmp_name(dest, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
