"""ios_demo/SkinedgeCore compiled and its XCTests run on Linux, in a Debian trixie chroot with
swiftlang 6.0.3 (bookworm has no Swift; `bash tests/tools.sh swift` sets the chroot up once).

`swift build`, then `swift test` against the golden folders of the small test model (no trust
fields) and of the shipped, calibrated model: every XCTest that can run without Apple's
frameworks runs and passes. Three stay macOS-only, skipped by the tests themselves: two need
ImageIO to decode the golden PNGs (PreprocessTests.testModelImagesAreByteExact,
testUndecodableImageIsRefused) and one Core ML (CoreMLParityTests). The app target (SwiftUI) is
not compiled here. Skips with the reason when the machine is not Debian, the user not root, or
the chroot not ready.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ios_demo" / "SkinedgeCore"
TOOLS = Path(os.environ.get("SKINEDGE_TOOLS") or Path.home() / ".cache" / "skinedge-tools")
CHROOT = TOOLS / "swift-trixie"
READY = ".skinedge-ready"  # tests/tools.sh writes it last
APPLE_ONLY = {"CoreMLParityTests.testCoreMLMatchesTheCheckpoint",  # Core ML
              "PreprocessTests.testModelImagesAreByteExact",  # ImageIO decodes the PNGs
              "PreprocessTests.testUndecodableImageIsRefused"}  # ImageIO's decoder itself
SUMMARY = re.compile(r"Test Suite 'All tests' (passed|failed) at .*\n\s+Executed (\d+) tests?, "
                     r"with (\d+) tests? skipped and (\d+) failures? \((\d+) unexpected\)")


def _chroot_or_skip() -> Path:
    if not Path("/etc/debian_version").is_file():
        pytest.skip("the Swift chroot is made with debootstrap on Debian: not a Debian machine")
    if os.geteuid() != 0:
        pytest.skip("the Swift chroot needs root (debootstrap, chroot, mount namespaces)")
    missing = [t for t in ("unshare", "chroot", "mount") if not shutil.which(t)]
    if missing:
        pytest.skip(f"the Swift chroot needs {', '.join(missing)} (util-linux, coreutils)")
    if not (CHROOT / READY).is_file():
        failed = TOOLS / "swift-trixie.failed"
        why = failed.read_text().strip() if failed.is_file() else f"no ready chroot at {CHROOT}"
        pytest.skip(f"{why}: run `bash tests/tools.sh swift` (about 3 min, 530 MB) to set it up")
    return CHROOT


def in_chroot(chroot: Path, script: str, binds: dict[str, Path], timeout: int = 600):
    """``script`` in the chroot under /mnt/<name> bind mounts, in a private mount namespace
    (nothing stays mounted on the host), with a clean environment."""
    steps = [f"mount -t proc proc {chroot}/proc", f"mount --bind /dev {chroot}/dev",
             f"mount -t tmpfs skinedge {chroot}/mnt"]
    for name, src in binds.items():
        steps += [f"mkdir {chroot}/mnt/{name}", f"mount --bind {shlex.quote(str(src))} "
                  f"{chroot}/mnt/{name}"]
    steps.append(f"chroot {chroot} /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root "
                 f"LANG=C.UTF-8 sh -c {shlex.quote(script)}")
    return subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", " && ".join(steps)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built_package(tmp_path_factory) -> tuple[Path, Path]:
    """(chroot, a copy of ios_demo/SkinedgeCore after `swift build`)."""
    chroot = _chroot_or_skip()
    pkg = tmp_path_factory.mktemp("swift") / "SkinedgeCore"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns(".build", ".swiftpm"))
    done = in_chroot(chroot, "cd /mnt/pkg && nice -n 10 swift build -j 1 2>&1", {"pkg": pkg})
    assert done.returncode == 0 and "Build complete!" in done.stdout, \
        f"swift build failed:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    return chroot, pkg


@pytest.fixture(scope="module", params=["small_model", "shipped_model"])
def golden(request) -> Path:
    if request.param == "small_model":
        exported = request.getfixturevalue("exported")
        return Path(next(r.path for r in exported.values() if r.path)).parent / "golden"
    return request.getfixturevalue("shipped_export") / "golden"


def _declared_tests() -> set[str]:
    out = set()
    for path in (PACKAGE / "Tests").rglob("*.swift"):
        text = path.read_text()
        for cls, body in re.findall(r"final class (\w+): XCTestCase \{(.*?)\n\}", text, re.S):
            out |= {f"{cls}.{name}" for name in re.findall(r"func (test\w+)\(", body)}
    return out


def test_swift_core_builds_and_every_linux_runnable_xctest_passes(built_package, golden):
    chroot, pkg = built_package
    done = in_chroot(chroot, "cd /mnt/pkg && SKINEDGE_GOLDEN=/mnt/golden nice -n 10 "
                     "swift test -j 1 2>&1", {"pkg": pkg, "golden": golden})
    out = done.stdout
    summary = SUMMARY.search(out)
    assert summary, f"no XCTest summary in swift test's output:\n{out[-6000:]}{done.stderr[-2000:]}"
    verdict, executed, skipped, failures = summary[1], *map(int, summary.group(2, 3, 4))
    assert done.returncode == 0 and verdict == "passed" and failures == 0, out[-8000:]
    ran = dict(re.findall(r"Test Case '(\w+\.\w+)' (passed|skipped|failed)", out))
    declared = _declared_tests()
    assert len(declared) >= 26 and set(ran) == declared, sorted(set(ran) ^ declared)
    assert executed == len(declared)
    assert {t for t, v in ran.items() if v == "skipped"} == APPLE_ONLY and skipped == len(APPLE_ONLY)
    assert "Test Case 'PredictionTests.testPredictionsMatchPython' passed" in out
