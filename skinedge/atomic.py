"""Writes that an interruption cannot leave half done: every file and folder the package
writes goes through here (a temporary name beside the target, then one rename)."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import ConfigError, OutputError


def _tmp_name(path: Path, tag: str = "tmp") -> Path:
    # Hidden, same folder (rename stays on one file system), same suffix (writers such as
    # matplotlib and Pillow pick the format from it), unique per process.
    return path.with_name(f".{path.stem}.{tag}{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """``with replacing(p) as tmp: write(tmp)``: ``p`` appears whole, or is left as it was."""
    path = Path(path)
    if path.exists() and not (path.is_file() or path.is_dir()):  # /dev/null, a FIFO: no rename
        try:
            yield path
        except OSError as exc:
            raise _write_error(path, exc) from None
        return
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _write_error(path: Path, exc: OSError, folder: bool = False) -> OutputError:
    """An OSError met while writing ``path`` (through its temporary name), naming ``path``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(path, exc)
    if not folder and path.is_dir():
        return OutputError(f"{path}: is a folder; give a file name")
    return OutputError(f"{path}: cannot write ({exc.strerror or exc})")


def disk_full(path: str | Path, exc: OSError) -> OutputError:
    """ENOSPC or EDQUOT while writing ``path``, said as what it is."""
    why = "over the disk quota" if exc.errno == errno.EDQUOT else "no space left on the device"
    return OutputError(f"disk full at {path}: {why}; nothing was kept there: free some space "
                       "or choose another output folder")


def output_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder to write into, created if missing, checked before any work starts:
    a ConfigError naming ``flag`` if it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: exists and is not a folder; choose another {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); "
                          f"choose another {flag}") from None
    return path


def output_file(path: str | Path, flag: str) -> Path:
    """``path`` as a file to write later, checked now: its folder exists and takes files, and
    it is not itself a folder (a ConfigError naming ``flag`` otherwise)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {path.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write in {path.parent} "
                          f"({exc.strerror or exc})") from None
    return path


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, doc, indent: int | None = 2) -> None:
    write_text(path, json.dumps(doc, indent=indent) + "\n")


def write_folder(dest: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_dir)`` then swap ``tmp_dir`` in for ``dest`` with two renames. A
    ``dest`` that is a symbolic link is followed: the folder it names is replaced, the link
    kept (renaming the link away would leave it behind, and the folder unchanged)."""
    dest = Path(os.path.realpath(dest)) if Path(dest).is_symlink() else Path(dest)
    tmp, old = _tmp_name(dest), _tmp_name(dest, "old")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        write(tmp)
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
    except OSError as exc:
        raise _write_error(dest, exc, folder=True) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
