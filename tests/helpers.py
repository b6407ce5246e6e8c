"""Helpers shared by test modules (pytest puts this folder on sys.path)."""
from __future__ import annotations

import socket
import subprocess
import sys


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    """``python -m skinedge.cli ARGS`` in a fresh process, output captured."""
    return subprocess.run([sys.executable, "-m", "skinedge.cli", *args], capture_output=True,
                          text=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int, *args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node N -m skinedge.cli ARGS`` on a free local port."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                           str(nproc), "--master-addr", "127.0.0.1", "--master-port",
                           str(free_port()), "-m", "skinedge.cli", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
