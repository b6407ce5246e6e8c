"""tests/tools.sh when a set-up fails: one line naming what failed, kept where the tests read their
skip reason, and nothing half-made left behind or marked ready. Fake debootstrap and npm first on
PATH stand for a failing network or mirror; no real download runs here."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS_SH = ROOT / "tests" / "tools.sh"


def _fake(bin_dir: Path, name: str, body: str) -> None:
    exe = bin_dir / name
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)


def _tools(tmp_path: Path, part: str, **fakes: str) -> tuple[subprocess.CompletedProcess, Path]:
    bin_dir, tools = tmp_path / "bin", tmp_path / "tools"
    bin_dir.mkdir()
    for name, body in fakes.items():
        _fake(bin_dir, name, body)
    env = {**os.environ, "SKINEDGE_TOOLS": str(tools), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(TOOLS_SH), part], capture_output=True, text=True, env=env,
                          timeout=120)
    return done, tools


def _needs_root_debian():
    if os.geteuid() != 0 or not Path("/etc/debian_version").is_file():
        pytest.skip("tools.sh sets up the Swift chroot only as root on Debian")


def test_a_failed_debootstrap_leaves_no_chroot_and_says_why(tmp_path, monkeypatch):
    _needs_root_debian()
    done, tools = _tools(tmp_path, "swift", debootstrap='mkdir -p "$3/proc"\n'
                         'echo "E: Failed getting release file trixie" >&2\nexit 1\n')
    assert done.returncode == 0  # the tests that need it skip; the other set-ups go on
    line = "Swift chroot: debootstrap trixie failed"
    assert line in done.stdout and "Failed getting release file" in done.stdout
    assert line in (tools / "swift-trixie.failed").read_text()
    assert not (tools / "swift-trixie").exists() and not (tools / "swift-trixie.partial").exists()
    # ...and the Swift test skips with that line as its reason
    import test_swift_core

    monkeypatch.setattr(test_swift_core, "TOOLS", tools)
    monkeypatch.setattr(test_swift_core, "CHROOT", tools / "swift-trixie")
    with pytest.raises(pytest.skip.Exception, match="debootstrap trixie failed"):
        test_swift_core._chroot_or_skip()


def test_a_failed_swiftlang_install_is_not_marked_ready(tmp_path):
    _needs_root_debian()
    # a "successful" debootstrap that leaves a tree with no shell: apt-get inside cannot run
    done, tools = _tools(tmp_path, "swift", debootstrap='mkdir -p "$3/proc" "$3/dev"\n')
    assert "Swift chroot: installing swiftlang in trixie failed" in done.stdout, done.stdout
    assert not (tools / "swift-trixie").exists() and not (tools / "swift-trixie.partial").exists()


def test_a_ready_chroot_is_reused(tmp_path):
    _needs_root_debian()
    ready = tmp_path / "tools" / "swift-trixie"
    ready.mkdir(parents=True)
    (ready / ".skinedge-ready").touch()
    done, _ = _tools(tmp_path, "swift", debootstrap=f'touch "{tmp_path}/called"\nexit 1\n')
    assert done.stdout == "" and not (tmp_path / "called").exists()


def test_a_failed_kotlin_download_leaves_nothing_marked_ready(tmp_path):
    done, tools = _tools(tmp_path, "kotlin", npm='echo "npm ERR! network ENOTFOUND" >&2\nexit 1\n')
    assert "Android tools: npm install kotlin-compiler@2.4.20 failed" in done.stdout, done.stdout
    assert "Android tools:" in (tools / "android.failed").read_text()
    assert not (tools / "android").exists() and not (tools / "android.partial").exists()
