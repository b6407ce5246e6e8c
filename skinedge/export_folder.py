"""The output folder of ``skinedge export``: what may be replaced, the merged report, and the
work folders of exports that were killed."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .atomic import output_folder, write_json
from .errors import OutputError

REPORT = "export_report.json"


class ExportFolder:
    """``--out`` of an export. Nothing in it is replaced unless an earlier export wrote it (its
    report lists it); the report merges, one entry per artifact, under a lock; each artifact
    is built in a hidden work folder named after the process, so the work folders of killed
    exports can be told from live ones and removed."""

    def __init__(self, out: str | Path):
        self.root = output_folder(out)
        self.report = self.root / REPORT
        _read_report(self.report)  # a file of that name that is not a report: refuse now

    def written_before(self, name: str) -> bool:
        """An artifact an earlier export wrote, or a file beside it sharing its stem (the
        sidecar card of a .pte)."""
        for e in _read_report(self.report)["results"]:
            art = Path(e.get("path") or "").name
            if art and (name == art or name.startswith(Path(art).stem + ".")):
                return True
        return False

    def check_free(self, names) -> None:
        """Refuse (before any work) to replace what skinedge export did not write."""
        for name in names:
            dest = self.root / name
            if (dest.exists() or dest.is_symlink()) and not self.written_before(name):
                raise OutputError(f"{dest}: exists and was not written by skinedge export; "
                                  "move it away or choose another --out (export replaces only "
                                  f"the artifacts its {REPORT} lists)")

    def work_dir(self) -> tempfile.TemporaryDirectory:
        return tempfile.TemporaryDirectory(dir=self.root, prefix=f".export-{os.getpid()}@{_host()}.")

    def remove_stale(self) -> None:
        """Work folders of exports on this host whose process is gone; unnamed (older) ones
        after a day."""
        for p in self.root.glob(".export-*"):
            m = re.fullmatch(r"\.export-(\d+)@(.+)\.[^.]+", p.name)
            stale = (m[2] == _host() and not _alive(int(m[1]))) if m else \
                time.time() - p.stat().st_mtime > 86_400
            if stale and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)

    def keep(self, tmp: Path) -> None:
        """Move everything the export wrote (artifact, sidecar card) into the folder."""
        items = sorted(tmp.iterdir())
        self.check_free(item.name for item in items)
        for item in items:
            dest = self.root / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(item, dest)

    def record(self, results: list, names: list[str], header: dict) -> None:
        """Merge ``results`` into the report: one entry per artifact, the latest attempt,
        except that a failed attempt leaves the entry of an artifact still in the folder."""
        with _locked(self.root):
            doc = _read_report(self.report)
            entries = {_entry_key(e): e for e in doc["results"]}
            for r, name in zip(results, names):
                old = entries.get(name)
                if r.status == "failed" and old and old.get("path") and (self.root / name).exists():
                    continue
                entries[name] = {**asdict(r), "artifact": name, "model": header["model"],
                                 "data": header["data"]}
            write_json(self.report, {**header, "results": list(entries.values())})


def _read_report(path: Path) -> dict:
    if not path.exists():
        return {"results": []}
    try:
        doc = json.loads(path.read_text())
        if not (isinstance(doc, dict) and isinstance(doc.get("results"), list)
                and all(isinstance(e, dict) for e in doc["results"])):
            raise ValueError("no list of results")
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: not an export report skinedge can merge into ({exc}); move "
                          "it away or choose another --out") from None
    return doc


def _entry_key(e: dict) -> str:
    return e.get("artifact") or (Path(e["path"]).name if e.get("path") else e.get("recipe", ""))


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", platform.node())[:64] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on ``folder`` while its report is read, merged and replaced, so
    that concurrent exports into one folder merge instead of overwriting each other."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
