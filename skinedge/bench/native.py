"""Host rows timed by a native ExecuTorch runner: ``skinedge bench --native-runner PATH``.

Beside each .pte's row on ExecuTorch's Python bindings, a row named ``<file> (native)`` times the
same file with a command-line runner on the C++ runtime and no Python: ``native/skinedge_runner``
(built from the pinned executorch wheel, native/README.md) or ExecuTorch's own executor_runner.
It is run in its own process per round with the phone harness's flags and parsed by the phone
harness's parser (bench/android.py), so host and phone figures come from one code path. Batch 1
only, as on a phone; its accuracy is the Python row's (the same file), so none is measured.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from .android import ExecutorRunner, ParseError, failure_reason, parse_executor_runner, parse_max_rss_mb

KIND = "native"
ACCURACY_NOTE = "not measured by the native runner; the same .pte on the Python row has it"


def check_binary(path: str) -> None:
    """A usage error unless ``path`` is an executable file."""
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        raise ConfigError(f"--native-runner {path}: no such executable (build native/ first: "
                          "native/README.md)")


def native_rows(rows: list, batches: tuple[int, ...]) -> list:
    """Each live .pte row followed by its native twin (a bench Row); skipped without batch 1."""
    out = []
    for row in rows:
        out.append(row)
        if row.kind != "artifact" or row.target not in ExecutorRunner.targets or \
                row.status == "failed" or not row.path:
            continue
        # ok even where the Python row is skipped: the runner needs no Python bindings
        twin = replace(row, name=f"{Path(row.path).name} (native)", kind=KIND, role="candidate",
                       status="ok", error="", timings={}, load_s=[], pids=[], accuracy=None,
                       accuracy_error=ACCURACY_NOTE)
        if 1 not in batches:
            twin.status, twin.error = "skipped", "the native runner times batch 1: add 1 to --batch-sizes"
        out.append(twin)
    return out


def measure(binary: str, path: str, warmup: int, runs: int, threads: int, timeout_s: float) -> dict:
    """One run of the runner on ``path``: a worker-style result (ok, load_s, latencies_ms at
    batch 1, peak_rss_mb, pid) or ok False with the runner's own reason."""
    argv = ExecutorRunner(binary).arguments(str(Path(path).resolve()), "host", warmup + runs, threads)
    try:
        p = subprocess.Popen([binary, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors="replace")
    except OSError as exc:
        return {"ok": False, "error": f"{binary}: cannot run it ({exc.strerror or exc})"}
    try:
        text, _ = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"ok": False, "error": f"timed out after {timeout_s:.0f} s"}
    if p.returncode != 0:  # killed by signal N: -N here, 128 + N from a shell (as on a phone)
        rc = 128 - p.returncode if p.returncode < 0 else p.returncode
        return {"ok": False, "error": failure_reason(rc, text, Path(binary).name)}
    try:
        timed, load_s = parse_executor_runner(text, warmup)
    except ParseError as exc:
        return {"ok": False, "error": f"cannot parse the output: {exc}"}
    return {"ok": True, "load_s": load_s or 0.0, "latencies_ms": {"1": timed},
            "peak_rss_mb": parse_max_rss_mb(text) or 0.0, "pid": p.pid}
