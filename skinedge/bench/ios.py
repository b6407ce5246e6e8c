"""``skinedge bench --device ios[:UDID]``: the iOS demo app's benchmark mode, driven with
``xcrun devicectl`` (Xcode 15 or later). It needs macOS; elsewhere the manual path is the app's
benchmark screen, its JSON shared to this machine and ``skinedge bench --import FILE``.

What the harness does, and what the app must do (benchmarks/README.md, "iOS"):

1. ``devicectl list devices --json-output F``: the paired, connected iPhone (or the UDID given).
2. ``devicectl device copy to``: each .mlpackage into the app's data container, under
   ``Documents/skinedge-bench/``.
3. ``devicectl device process launch --terminate-existing BUNDLE -skinedgeBenchmark
   skinedge-bench -warmup W -runs N -resultFile NAME`` (UserDefaults launch arguments): the app
   times every model in that folder and writes ``Documents/skinedge-bench/NAME`` in schema
   ``skinedge.bench/2``, one row per model named by its file name, with a ``device`` object.
4. ``devicectl device copy from`` until that file arrives whole (or ``--timeout`` per model).
"""
from __future__ import annotations

import json
import platform
import secrets
import shutil
import time
from pathlib import Path

from ..errors import DataError
from .adb import DeviceError, run_tool, tail
from .android import Measurement

IOS_BUNDLE = "org.skinedge.demo"  # ios_demo's bundle identifier; --app overrides it
BENCH_FOLDER = "skinedge-bench"


class IosAppRunner:
    name = "ios_app"
    targets = ("coreml",)


def find_xcrun() -> str:
    found = shutil.which("xcrun")
    if not found:
        raise DeviceError(f"--device ios needs macOS with Xcode 15 or later (xcrun devicectl); "
                          f"this machine runs {platform.system()}. Without a Mac: run the iOS "
                          "demo app's benchmark screen, share its JSON here and run `skinedge "
                          "bench --import FILE` (benchmarks/README.md)")
    return found


def _state(d: dict) -> str:
    """"" when the device can be used, else what is wrong with it."""
    conn = d.get("connectionProperties") or {}
    if conn.get("pairingState", "paired") != "paired":
        return "not paired: unlock it and tap Trust on its 'Trust This Computer?' prompt"
    if conn.get("tunnelState") in ("disconnected", "unavailable"):
        return ("not reachable: connect it by USB, unlock it and turn on Developer Mode "
                "(Settings > Privacy & Security)")
    return ""


def _udid(d: dict) -> str:
    return (d.get("hardwareProperties") or {}).get("udid") or d.get("identifier", "")


def _name(d: dict) -> str:
    return (d.get("deviceProperties") or {}).get("name") or _udid(d)


def choose_device(devices: list[dict], udid: str | None) -> dict:
    phones = [d for d in devices if (d.get("hardwareProperties") or {}).get("platform", "iOS") == "iOS"
              and (d.get("hardwareProperties") or {}).get("reality", "physical") == "physical"]
    if udid:
        match = [d for d in phones if udid in (_udid(d), d.get("identifier"))]
        if not match:
            seen = ", ".join(f"{_udid(d)} ({_name(d)})" for d in phones) or "none"
            raise DeviceError(f"iOS device {udid} is not connected (devicectl lists: {seen})")
        phones = match
    usable = [d for d in phones if not _state(d)]
    if not phones:
        raise DeviceError("no iPhone: `xcrun devicectl list devices` lists none; connect one by "
                          "USB and unlock it")
    if len(phones) == 1 and not usable:
        raise DeviceError(f"iOS device {_name(phones[0])} is {_state(phones[0])}")
    if len(usable) > 1:
        raise DeviceError(f"{len(usable)} iOS devices connected: "
                          f"{', '.join(f'{_udid(d)} ({_name(d)})' for d in usable)}; choose one "
                          "with --device ios:UDID")
    if not usable:
        raise DeviceError("no usable iPhone: " + "; ".join(f"{_name(d)} is {_state(d)}"
                                                           for d in phones))
    return usable[0]


def device_info(d: dict) -> dict:
    hw, props = d.get("hardwareProperties") or {}, d.get("deviceProperties") or {}
    cpu = (hw.get("cpuType") or {}).get("name", "")
    return {"platform": "ios", "serial": _udid(d), "manufacturer": "Apple",
            "model": hw.get("marketingName") or hw.get("productType") or _name(d),
            "soc": hw.get("productType", ""),
            "os": f"iOS {props['osVersionNumber']}" if props.get("osVersionNumber") else "iOS",
            "abi": cpu, "governor": "", "cores": None}


def connect_ios(cfg, opts, local_tmp: Path) -> tuple[tuple[str, dict], dict]:
    """((xcrun, the devicectl record of the one usable iPhone), rows[].device)."""
    xcrun = find_xcrun()
    listing = local_tmp / "devices.json"
    r = run_tool([xcrun, "devicectl", "list", "devices", "--json-output", str(listing)],
                 cfg.timeout_s)
    try:
        devices = json.loads(listing.read_text())["result"]["devices"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DeviceError(f"`xcrun devicectl list devices` failed: "
                          f"{tail(r.err or r.out) or f'exit {r.rc}'}") from None
    dev = choose_device(devices, opts.serial)
    return (xcrun, dev), device_info(dev)


def measure_ios(session: tuple[str, dict], rows, cfg, opts, local_tmp: Path) -> None:
    """Copy the models into the app, launch its benchmark mode, read its JSON back."""
    from .importing import rows_of

    xcrun, dev = session
    udid, bundle = _udid(dev), opts.app or IOS_BUNDLE
    container = ["--device", udid, "--domain-type", "appDataContainer",
                 "--domain-identifier", bundle]
    live = [row for row in rows if row.status == "ok"]
    for row in live:
        c = run_tool([xcrun, "devicectl", "device", "copy", "to", *container, "--source", row.path,
                      "--destination", f"Documents/{BENCH_FOLDER}/{row.name}"], cfg.timeout_s)
        if c.rc != 0:
            row.fail(f"cannot copy it into {bundle} (is the app installed? build and run "
                     f"ios_demo from Xcode once): {tail(c.err or c.out) or 'timed out'}")
    live = [row for row in live if row.status == "ok"]
    if not live:
        return
    result = f"results-{secrets.token_hex(4)}.json"
    launch = run_tool([xcrun, "devicectl", "device", "process", "launch", "--device", udid,
                       "--terminate-existing", bundle, "-skinedgeBenchmark", BENCH_FOLDER,
                       "-warmup", str(cfg.warmup), "-runs", str(cfg.runs), "-resultFile", result],
                      cfg.timeout_s)
    if launch.rc != 0:
        raise DeviceError(f"cannot launch {bundle} on {_name(dev)} (unlock the phone; is the app "
                          f"installed?): {tail(launch.err or launch.out) or 'timed out'}")
    local = local_tmp / result
    deadline = time.monotonic() + cfg.timeout_s * len(live)
    doc, why = None, f"timed out after {cfg.timeout_s * len(live):g} s waiting for the app's results"
    while time.monotonic() < deadline:
        run_tool([xcrun, "devicectl", "device", "copy", "from", *container, "--source",
                  f"Documents/{BENCH_FOLDER}/{result}", "--destination", str(local)],
                 max(1.0, deadline - time.monotonic()))
        if local.is_file():
            try:
                doc = rows_of(json.loads(local.read_text()), f"the app's {result}")
                break
            except (ValueError, DataError) as exc:  # still being written, or not the schema
                why = f"cannot parse the app's results: {exc}"
        time.sleep(1.0)
    for row in live:
        # by file name; an app that names a model by its compiled name (.mlmodelc) matches too
        found = next((d for d in doc or [] if Path(d["name"]).stem == Path(row.name).stem), None)
        if doc is None or found is None:
            row.fail(why if doc is None else f"the app's results have no row for {row.name}")
        elif found["status"] != "ok":
            row.fail(f"the app says: {found['status']}: {found.get('error') or '?'}")
        else:
            lat = found["latency_ms"].get("1") or next(iter(found["latency_ms"].values()))
            row.record(Measurement(True, summary=lat, load_s=found.get("load_s"),
                                   peak_rss_mb=found.get("peak_rss_mb")))
