"""``skinedge bench --device android[:SERIAL]|ios[:UDID]`` and ``skinedge bench --import FILE...``.

The phone runs each artifact (adb + a runner binary or a benchmark app on Android; the iOS demo
app's benchmark mode through ``xcrun devicectl`` on a Mac); the rows come back in the host bench's
schema (``skinedge.bench/2``) with ``rows[].device`` and ``rows[].runner`` added. A phone that
cannot be used (no adb, no device, several, unauthorised, offline) fails every row with the
reason and nothing is written; a row whose runner crashes, hangs past ``--timeout`` or prints
nothing parseable fails alone. Either way the command exits 1.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, option
from ..errors import ConfigError, SkinedgeError
from ..targets import TARGETS, target_for_path
from .adb import Adb, DeviceError, choose, device_info, find_adb, parse_devices, run_tool, tail
from .android import RUNNERS, AppRunner, Measurement
from .report import SCHEMA, baselines, host_info, stats

DEVICE_SPEC = re.compile(r"^(android|ios)(?::(\S+))?$")
ANDROID_WORK = "/data/local/tmp"


@dataclass(frozen=True)
class DeviceOptions(Config):
    device: str | None = option(None, "run on a phone instead of this host: android[:SERIAL] "
                                "(adb) or ios[:UDID] (xcrun devicectl, macOS only); batch 1; "
                                "--target, --batch-sizes, --data, --split, --compile are for "
                                "host runs", metavar="android[:SERIAL]|ios[:UDID]")
    runner: str | None = option(None, "with --device android: what runs each artifact "
                                "(default: executor_runner for .pte, ort_perf_test for .onnx)",
                                choices=tuple(RUNNERS), metavar="RUNNER")
    runner_bin: str | None = option(None, "the runner built for the phone, pushed before the "
                                    "runs (default: the one in /data/local/tmp on the phone)",
                                    flag="--runner-bin", metavar="PATH")
    app: str | None = option(None, "the benchmark app: PACKAGE/ACTIVITY for --runner app "
                             "(default: ExecuTorch's minibench), the bundle id with --device ios",
                             metavar="ID")
    etdump: bool = option(False, "with an executor_runner built with the event tracer: pull each "
                          "artifact's ETDump and add its per-op profile to the row")
    import_json: bool = option(False, "merge benchmark JSON files (demo apps' benchmark "
                               "screens, other bench runs), given as the positional arguments, "
                               "into one table instead of measuring (with --device: the platform "
                               "of rows whose file names no device)", flag="--import")

    def __post_init__(self):
        super().__post_init__()
        if self.device is not None and not DEVICE_SPEC.match(self.device):
            raise ConfigError(f"--device {self.device!r}: expected android, android:SERIAL, ios "
                              "or ios:UDID")
        android = self.platform == "android"
        for flag, given in (("--runner", self.runner), ("--runner-bin", self.runner_bin),
                            ("--etdump", self.etdump)):
            if given and not android:
                raise ConfigError(f"{flag} applies to --device android only")
        if self.runner_bin and not self.runner:
            raise ConfigError("--runner-bin needs --runner (executor_runner or ort_perf_test)")
        if self.runner_bin and self.runner == AppRunner.name:
            raise ConfigError("--runner app starts an installed app; --runner-bin is for the "
                              "command-line runners")
        if self.runner_bin and not Path(self.runner_bin).is_file():
            raise ConfigError(f"--runner-bin {self.runner_bin}: no such file")
        if self.etdump and self.runner not in (None, "executor_runner"):
            raise ConfigError("--etdump needs executor_runner (built with the event tracer)")

    @property
    def platform(self) -> str | None:
        m = DEVICE_SPEC.match(self.device or "")
        return m[1] if m else None

    @property
    def serial(self) -> str | None:
        m = DEVICE_SPEC.match(self.device or "")
        return m[2] if m else None


@dataclass
class Planned:
    """One artifact on its way through the phone."""

    name: str
    path: str
    target: str
    quantization: str = "?"
    card: object = None
    runner: object = None
    status: str = "ok"
    error: str = ""
    latencies: list = field(default_factory=list)
    loads: list = field(default_factory=list)
    peak_mb: float | None = None
    summary: dict | None = None
    extra: dict = field(default_factory=dict)

    def fail(self, why: str) -> None:
        if self.status == "ok":
            self.status, self.error = "failed", why

    def record(self, m: Measurement) -> None:
        if not m.ok:
            self.fail(m.error)
            return
        self.latencies += m.latencies_ms
        self.loads += [m.load_s] if m.load_s is not None else []
        if m.peak_rss_mb is not None:
            self.peak_mb = max(self.peak_mb or 0.0, m.peak_rss_mb)
        self.summary = m.summary or self.summary
        self.extra.update(m.extra)


def plan(models, opts: DeviceOptions, runners: dict) -> list[Planned]:
    """A row per artifact with its runner, or skipped with the reason (cards are read later,
    once a phone is known to be there)."""
    from .runner import _expand

    if not models:
        raise ConfigError(f"--device needs the artifacts to run, e.g. skinedge bench "
                          f"artifacts/*.pte --device {opts.platform}")
    rows = []
    for p in _expand(models):
        t = target_for_path(p)
        row = Planned(p.name, str(p), t.name)
        rows.append(row)
        row.runner = next((r for r in runners.values() if t.name in r.targets), None)
        if t.reference:
            row.status, row.error = "skipped", ("a checkpoint does not run on a phone: export it "
                                                "(skinedge export) and pass the artifacts")
        elif row.runner is None:
            runs = ", ".join(TARGETS[n].suffix for r in runners.values() for n in r.targets)
            row.status, row.error = "skipped", (f"{' / '.join(runners)} on {opts.platform} runs "
                                                f"{runs} files, not {t.suffix}")
    if not any(r.status == "ok" for r in rows):
        raise ConfigError(f"nothing to run on {opts.platform}: " + "; ".join(
            f"{r.name}: {r.error}" for r in rows))
    return rows


def read_cards(rows: list[Planned]) -> None:
    """Each live row's model card (architecture, quantization, FLOPs); a file whose card
    cannot be read or verified fails its row, as on the host."""
    for row in (r for r in rows if r.status == "ok"):
        try:
            row.card = target_for_path(row.path).load_module().read_card(Path(row.path))
            row.quantization = row.card.quantization
        except SkinedgeError as exc:
            row.fail(str(exc))


def android_runners(opts: DeviceOptions) -> dict:
    """The runners this run uses: the one named, else one per target (the binary runners)."""
    build = {"executor_runner": lambda: RUNNERS["executor_runner"](opts.runner_bin, opts.etdump),
             "ort_perf_test": lambda: RUNNERS["ort_perf_test"](opts.runner_bin),
             "app": lambda: RUNNERS["app"](opts.app)}
    names = [opts.runner] if opts.runner else [n for n in RUNNERS if n != AppRunner.name]
    return {n: build[n]() for n in names}


def connect_android(cfg, opts: DeviceOptions) -> tuple[Adb, dict, dict]:
    """(adb bound to the one usable phone, its getprop answers, rows[].device); DeviceError
    when there is none."""
    exe = find_adb()
    r = run_tool([exe, "devices", "-l"], cfg.timeout_s)
    if r.rc != 0:
        raise DeviceError(f"`adb devices` failed: {tail(r.err or r.out) or f'exit {r.rc}'}")
    dev = choose(parse_devices(r.out), opts.serial)
    adb = Adb(exe, dev.serial, cfg.timeout_s)
    props = adb.properties()
    return adb, props, device_info(dev.serial, props)


def measure_android(adb: Adb, props: dict, rows: list[Planned], cfg, local_tmp: Path) -> None:
    """Push runners and artifacts into a fresh work folder, run the rounds, remove the folder."""
    workdir = f"{ANDROID_WORK}/skinedge-bench-{os.getpid()}-{secrets.token_hex(3)}"
    if adb.shell(f"mkdir -p {workdir}").rc != 0:
        raise DeviceError(f"Android device {adb.serial}: cannot create {workdir}")
    live = [row for row in rows if row.status == "ok"]
    timed_out = False
    try:
        for runner in dict.fromkeys(row.runner for row in live):
            why = runner.prepare(adb, workdir)
            for row in (x for x in live if x.runner is runner and why):
                row.fail(why)
        for row in (x for x in live if x.status == "ok"):
            p = adb.push(row.path, f"{workdir}/{row.name}")
            if p.rc != 0:
                row.fail(f"adb push failed: {tail(p.err or p.out) or 'timed out'}")
        for rnd in range(cfg.rounds):
            for row in live:
                # an app computes its own statistics: one launch, not one per round
                if row.status != "ok" or (rnd and isinstance(row.runner, AppRunner)):
                    continue
                m = row.runner.measure(adb, workdir, row.name, f"r{rnd + 1}", cfg.warmup, cfg.runs,
                                       cfg.threads, props.get("time_v") == "1", local_tmp)
                timed_out |= m.error.startswith("timed out")
                row.record(m)
    finally:
        if timed_out:  # the runner may still run: its command line names workdir (the last
            # character bracketed, so that this shell's own command line does not match)
            adb.shell(f"pkill -f '{workdir[:-1]}[{workdir[-1]}]'")
        adb.shell(f"rm -rf {workdir}")


def run_device_bench(cfg, opts: DeviceOptions) -> tuple[dict, dict[str, bytes], str]:
    """(results document, files to write beside it, "" or why no phone could be used)."""
    t0 = time.time()
    ios = opts.platform == "ios"
    rows = plan(cfg.models, opts, _ios_runners() if ios else android_runners(opts))
    device, problem = {"platform": opts.platform, "serial": opts.serial or ""}, ""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="skinedge-device-") as tmp:
        try:
            if ios:
                from .ios import connect_ios, measure_ios

                session, device = connect_ios(cfg, opts, Path(tmp))
                read_cards(rows)
                measure_ios(session, rows, cfg, opts, Path(tmp))
            else:
                adb, props, device = connect_android(cfg, opts)
                read_cards(rows)
                measure_android(adb, props, rows, cfg, Path(tmp))
        except DeviceError as exc:
            problem = str(exc)
            for row in rows:
                row.fail(problem)
        for row in rows:
            etdump = Path(row.extra.pop("etdump", "") or "/nonexistent")
            if etdump.is_file():
                row.extra["profile"] = etdump_profile(etdump)
                row.extra["etdump"] = f"etdump/{row.name}.etdp"
                files[row.extra["etdump"]] = etdump.read_bytes()
    return assemble(rows, cfg, opts, device, time.time() - t0), files, problem


def _ios_runners() -> dict:
    from .ios import IosAppRunner

    return {IosAppRunner.name: IosAppRunner}


def row_doc(row: Planned, device: dict) -> dict:
    """A row in the host bench's layout, plus device and runner."""
    c = row.card
    if row.latencies:
        lat = {"1": stats(row.latencies)}
    elif row.summary:
        lat = {"1": {"n": None, "median": None, "p90": None, "p99": None, "trimmed_mean": None,
                     "min": None, **row.summary}}
    else:
        lat = {}
    med = lat.get("1", {}).get("median")
    d = {"name": row.name, "kind": "artifact", "target": row.target,
         "quantization": row.quantization, "path": row.path,
         "role": "baseline" if any(t == row.target and q == row.quantization
                                   for t, q in baselines().values()) else "candidate",
         "status": row.status, "error": row.error, "peak_rss_mb": row.peak_mb, "pids": [],
         "accuracy": None, "accuracy_error": "",
         "size_bytes": _size(row.path) if c else None,
         "architecture": getattr(c, "architecture", None), "input_size": getattr(c, "input_size", None),
         "params": getattr(c, "params", None), "flops": getattr(c, "flops", None),
         "macs": getattr(c, "macs", None), "flops_graph": None, "flops_graph_from": None,
         "load_s": sorted(row.loads)[len(row.loads) // 2] if row.loads else None,
         "latency_ms": lat, "throughput_img_s": {"1": 1e3 / med} if med else {},
         "ratios": {}, "device": device,
         "runner": getattr(row.runner, "name", None)}
    if med and d["flops"]:
        d["gflops_achieved"] = d["flops"] / (med / 1e3) / 1e9
    for key in ("profile", "etdump", "app_device"):
        if key in row.extra:
            d[key] = row.extra[key]
    return d


def _size(path: str) -> int | None:
    from ..targets import artifact_size

    try:
        return artifact_size(path)
    except OSError:
        return None


def assemble(rows: list[Planned], cfg, opts: DeviceOptions, device: dict, seconds: float) -> dict:
    from ..card import software_versions
    from .phone_report import add_ratios

    docs = [row_doc(r, device) for r in rows]
    add_ratios(docs)
    doc = {"schema": SCHEMA, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "host": host_info(cfg.threads), "software": software_versions(),
           "matmul_peak_gflops": None, "matmul_gflops_by_library": {}, "batches": [1],
           "settings": {"rounds": cfg.rounds, "warmup": cfg.warmup, "runs_per_round": cfg.runs,
                        "threads": cfg.threads, "timeout_s": cfg.timeout_s, "device": opts.device,
                        "runner": opts.runner, "data": None, "split": None,
                        "baselines": baselines()},
           "accuracy_data": {"data": None, "split": None, "shipped_sample": False},
           "device": device, "seconds": round(seconds, 1), "rows": docs, "exports": []}
    return doc


def etdump_profile(path: Path) -> dict:
    """Median ms per ETDump event (top 15), as benchmarks/profile_pte.py reports them."""
    try:
        import numpy as np
        from executorch.devtools import Inspector
    except ImportError:
        return {"error": "executorch's devtools are not installed here: pip install "
                         "'skinedge[export]' to read the ETDump"}
    from ..targets.common import quiet_stderr

    said: list[str] = []  # flatc's complaint, kept off the terminal
    try:
        with quiet_stderr(said):
            inspector = Inspector(etdump_path=str(path))
        totals: Counter = Counter()
        for block in inspector.event_blocks:
            for ev in block.events:
                if ev.perf_data is not None:
                    totals[ev.name] += float(np.median(ev.perf_data.raw))
    except Exception as exc:  # Inspector raises whatever its flatbuffer reader meets
        why = said[-1] if said else type(exc).__name__
        return {"error": f"cannot read the ETDump (not one, or from another ExecuTorch "
                         f"version): {why[:200]}"}
    return {"median_ms_per_event": {k: round(v, 4) for k, v in totals.most_common(15)}}


def main(cfg, opts: DeviceOptions, as_json: bool) -> int:
    """The CLI's ``--device`` / ``--import`` path: print the table (or JSON), write the results
    unless no phone could be used, and exit 1 when any row failed."""
    import json
    import sys

    from ..atomic import output_folder
    from .importing import import_docs
    from .phone_report import markdown, write

    if cfg.native_runner:
        raise ConfigError("--native-runner times .pte files on this host; on a phone, use "
                          "--runner executor_runner --runner-bin PATH (the runner built for it)")
    out = output_folder(cfg.out)
    if opts.import_json:
        doc = import_docs(list(cfg.models), host_info(cfg.threads), opts.platform)
        files, problem, prefix = {}, "", "imported"
    else:
        (doc, files, problem), prefix = run_device_bench(cfg, opts), "phone"
    if not problem:
        written = write(doc, out, prefix, files)
    print(json.dumps(doc, indent=2) if as_json else markdown(doc))
    if problem:
        print(f"skinedge bench: error: {problem} (nothing was measured; nothing written)",
              file=sys.stderr)
        return 1
    print(f"skinedge bench: results in {written[1]} and {written[2].name}", file=sys.stderr)
    failed = [r["name"] for r in doc["rows"] if r["status"] == "failed"]
    if failed:
        print(f"skinedge bench: {len(failed)} row(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
