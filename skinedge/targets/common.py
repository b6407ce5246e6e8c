"""Pieces the target modules share: lazy backend imports, the batch-dimension spec, and a
guard that keeps backends' console chatter out of skinedge's output."""
from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import importlib.util
import io
import os
import re
import sys
import tempfile
from typing import Iterator

import numpy as np

from ..atomic import disk_full
from ..errors import BackendMissingError

CARD_KEY = "skinedge.model_card"
MAX_BATCH = 256

# What backends print on stderr that tells a user nothing: ExecuTorch's C++ runtime probes
# ARM CPU registers on every machine ("[cpuinfo_utils.cpp:87] Failed to open midr file ...")
# and announces thread-pool resets; coremltools draws a tqdm bar per converter pass
# ("Running MIL default pipeline: 100%|...| 95/95 [00:00<00:00, 121.49 passes/s]").
NOISE = re.compile(r"^\[(cpuinfo_utils|threadpool)\.cpp:\d+\]"
                   r"|\[\d+:\d+(<[^\]]*)?, [^\]]*/s\]\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SOURCE = re.compile(r"^\[[\w.]+:\d+\]\s*")  # "[program.cpp:114] " before a native message


def require(module: str, package: str, extra: str = "export"):
    """Import a backend module, or raise an error naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendMissingError(package, extra) from None


def installed(module: str, package: str, extra: str = "export") -> tuple[bool, str]:
    """``can_run_here`` for a runtime that only needs its backend package."""
    try:
        found = importlib.util.find_spec(module.split(".")[0]) is not None
    except ValueError:  # listed in sys.modules as None: deliberately unavailable
        found = False
    if not found:
        return False, f"{package} is not installed; install it with: pip install 'skinedge[{extra}]'"
    return True, ""


def reports_disk_full(export):
    """Wrap a target's ``export(model, card, dest, ...)``: a disk that fills while it writes is
    an OutputError "disk full at PATH", which ``skinedge export`` reports as it is (not as a
    failed conversion, then "failed their parity check")."""
    @functools.wraps(export)
    def wrapped(model, card, dest, *args, **kw):
        try:
            return export(model, card, dest, *args, **kw)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise disk_full(exc.filename or dest, exc) from None
            raise
    return wrapped


@contextlib.contextmanager
def quiet_stderr(reasons: list[str] | None = None) -> Iterator[None]:
    """Hold back what the block prints on stderr, from Python (tqdm) and from C/C++ (fd 2),
    then print it again without the known noise; if the block raises, print all of it, since
    the backend's own lines may explain the error, or, given ``reasons``, put those lines
    there (without their ``[file.cpp:N]`` prefix) for the caller's one-line error."""
    sys.stderr.flush()
    saved = os.dup(2)
    python_side = io.StringIO()
    with tempfile.TemporaryFile() as native_side:
        os.dup2(native_side.fileno(), 2)
        failed = True
        try:
            with contextlib.redirect_stderr(python_side):
                yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            native_side.seek(0)
            text = python_side.getvalue() + native_side.read().decode(errors="replace")
            lines = [_ANSI.sub("", ln).strip() for ln in re.split(r"[\r\n]+", text)]
            keep = [ln for ln in lines if ln and (failed or not NOISE.search(ln))]
            if failed and reasons is not None:
                reasons.extend(_SOURCE.sub("", ln) for ln in keep if not NOISE.search(ln))
            elif keep:
                print("\n".join(keep), file=sys.stderr, flush=True)


# torch is imported inside these helpers so that a runtime-only process (onnxruntime)
# does not pay torch's memory: the benchmark reports each runtime's own footprint.
def example_input(size: int, batch: int = 2):
    import torch

    return torch.rand(batch, 3, size, size)


def batch_dim():
    import torch

    return torch.export.Dim("batch", min=1, max=MAX_BATCH)


def as_float_batch(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)
