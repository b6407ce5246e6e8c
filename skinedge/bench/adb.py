"""The phone end of ``skinedge bench --device android``: find adb, pick one device, read what it
is, and move files and commands to and from it, every call with a time limit.

Only ``adb`` itself is run here (tests put a fake one first on PATH); nothing starts a server
on purpose, though a real adb starts one the first time it is called.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import SkinedgeError

EXIT_MARK = "skinedge-exit:"  # printed after a device command, since old adb loses exit codes
GOVERNOR = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
PROPS = ("ro.product.manufacturer", "ro.product.model", "ro.soc.manufacturer", "ro.soc.model",
         "ro.board.platform", "ro.build.version.release", "ro.build.version.sdk",
         "ro.product.cpu.abi")
# What each `adb devices` state means for the user, and what to do about it.
STATE_ADVICE = {
    "unauthorized": "unauthorized: unlock the phone and accept its 'Allow USB debugging?' prompt "
                    "(if there is none, revoke USB debugging authorisations in Developer options "
                    "and reconnect)",
    "offline": "offline: reconnect the cable or run `adb reconnect`; if it stays offline, "
               "restart the phone",
    "no permissions": "no permissions: this user may not open the USB device (on Linux add a "
                      "udev rule for it, or join the plugdev group), then reconnect",
    "recovery": "in recovery mode: boot it normally",
    "sideload": "in sideload mode: boot it normally",
    "bootloader": "in the bootloader: boot it normally",
    "authorizing": "still authorizing: wait a few seconds and try again",
    "connecting": "still connecting: wait a few seconds and try again",
}


class DeviceError(SkinedgeError):
    """No phone can be used (no adb, no device, several, unauthorised, offline, no macOS):
    nothing was measured. ``skinedge bench`` reports it and exits 1."""


@dataclass(frozen=True)
class Listed:
    serial: str
    state: str
    details: str  # "model:Pixel_8 device:shiba ..." as adb prints it

    def describe(self) -> str:
        model = next((kv.split(":", 1)[1] for kv in self.details.split() if kv.startswith("model:")),
                     "")
        return f"{self.serial} ({', '.join(filter(None, (model, self.state)))})"


def find_adb() -> str:
    """adb on PATH, else in $ANDROID_HOME or $ANDROID_SDK_ROOT/platform-tools."""
    found = shutil.which("adb")
    if found:
        return found
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        cand = Path(os.environ.get(var) or "/nonexistent") / "platform-tools" / "adb"
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise DeviceError("adb not found: install Android SDK platform-tools "
                      "(https://developer.android.com/tools/releases/platform-tools) and put adb "
                      "on PATH, or set ANDROID_HOME to the SDK folder")


def parse_devices(text: str) -> list[Listed]:
    """The devices in `adb devices -l` output (daemon chatter and the header skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("*", "List of devices", "adb server")):
            continue
        serial, _, rest = line.partition(" ")
        rest = rest.strip()
        state = next((s for s in STATE_ADVICE if rest.startswith(s)), rest.split(" ", 1)[0])
        out.append(Listed(serial, state, rest[len(state):].strip()))
    return out


def choose(listed: list[Listed], serial: str | None) -> Listed:
    """The one device to use, or a DeviceError saying why none can be."""
    if serial:
        match = [d for d in listed if d.serial == serial]
        if not match:
            seen = ", ".join(d.describe() for d in listed) or "none"
            raise DeviceError(f"device {serial} is not connected (adb lists: {seen})")
        dev = match[0]
    elif not listed:
        raise DeviceError("no Android device: `adb devices` lists none. Connect a phone by USB "
                          "with USB debugging on (Settings > Developer options), or start an "
                          "emulator")
    elif len(listed) > 1:
        raise DeviceError(f"{len(listed)} devices connected: "
                          f"{', '.join(d.describe() for d in listed)}; choose one with "
                          "--device android:SERIAL")
    else:
        dev = listed[0]
    if dev.state != "device":
        advice = STATE_ADVICE.get(dev.state, f"in state '{dev.state}': it must be 'device'")
        raise DeviceError(f"Android device {dev.serial} is {advice}")
    return dev


@dataclass
class Result:
    rc: int  # the device command's own exit status where EXIT_MARK was printed, else adb's
    out: str
    err: str
    timed_out: bool = False


class Adb:
    """adb calls to one device; ``timeout_s`` bounds each call unless a call gives its own."""

    def __init__(self, exe: str, serial: str, timeout_s: float):
        self.exe, self.serial, self.timeout_s = exe, serial, timeout_s

    def call(self, *args: str, timeout_s: float | None = None) -> Result:
        return run_tool([self.exe, "-s", self.serial, *args], timeout_s or self.timeout_s)

    def shell(self, command: str, timeout_s: float | None = None) -> Result:
        """``command`` in the device's shell; rc is the command's own exit status."""
        r = self.call("shell", f"{command}; echo {EXIT_MARK}$?", timeout_s=timeout_s)
        if r.timed_out:
            return r
        lines = r.out.rstrip("\n").splitlines()
        if lines and lines[-1].startswith(EXIT_MARK):
            status = lines[-1].removeprefix(EXIT_MARK).strip()
            r.rc = int(status) if status.isdigit() else 1
            r.out = "\n".join(lines[:-1])
        elif r.rc == 0:
            r.rc = 1  # adb returned, but the command never reached its end
        return r

    def push(self, local: str | Path, remote: str, timeout_s: float | None = None) -> Result:
        return self.call("push", str(local), remote, timeout_s=timeout_s)

    def pull(self, remote: str, local: str | Path) -> Result:
        return self.call("pull", remote, str(local))

    def properties(self) -> dict[str, str]:
        """getprop values, the CPU governor, the core count and whether toybox's `time -v`
        reports peak memory, from one shell call."""
        probe = "; ".join([f'echo "{p}=$(getprop {p})"' for p in PROPS] + [
            f'echo "governor=$(cat {GOVERNOR} 2>/dev/null)"',
            'echo "cores=$(nproc 2>/dev/null)"',
            'echo "time_v=$(toybox time -v true 2>&1 | grep -c \'Max RSS\')"'])
        r = self.shell(probe)
        if r.rc != 0:
            raise DeviceError(f"Android device {self.serial}: cannot read its properties "
                              f"({tail(r.err or r.out) or 'adb shell failed'})")
        return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def device_info(serial: str, props: dict[str, str]) -> dict:
    """rows[].device of an Android phone."""
    soc = " ".join(filter(None, (props.get("ro.soc.manufacturer"), props.get("ro.soc.model"))))
    release, sdk = props.get("ro.build.version.release", ""), props.get("ro.build.version.sdk", "")
    cores = props.get("cores", "")
    return {"platform": "android", "serial": serial,
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "model": props.get("ro.product.model", "") or serial,
            "soc": soc or props.get("ro.board.platform", ""),
            "os": f"Android {release}" + (f" (SDK {sdk})" if sdk else "") if release else "Android",
            "abi": props.get("ro.product.cpu.abi", ""),
            "governor": props.get("governor", "") or "unknown",
            "cores": int(cores) if cores.isdigit() else None}


def run_tool(argv: list[str], timeout_s: float) -> Result:
    """Run a command line (adb, xcrun) in its own process group, killed whole at the time limit."""
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace", start_new_session=True)
    except OSError as exc:
        raise DeviceError(f"{argv[0]}: cannot run it ({exc.strerror or exc})") from None
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group this call started, nothing else
        out, err = p.communicate()
        return Result(124, out, err, timed_out=True)
    except KeyboardInterrupt:  # its own session does not get the terminal's Ctrl-C
        os.killpg(p.pid, signal.SIGKILL)
        raise
    return Result(p.returncode, out, err)


def tail(text: str, n: int = 300) -> str:
    """The last non-empty line of ``text``, cut to ``n`` characters."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:n] if lines else ""


def quote(*parts: str) -> str:
    return " ".join(shlex.quote(p) for p in parts)
