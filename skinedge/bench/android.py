"""Runners that time an artifact on an Android phone, and the parsers of what they print.

- ``executor_runner`` / ``xnn_executor_runner`` (ExecuTorch, examples/portable/executor_runner):
  runs ``--num_executions`` times and logs ``Iteration i of n: X ms`` per run and ``Model loaded
  in X ms`` (glog-like lines on stderr with the posix PAL; the android preset's PAL sends them to
  logcat instead, so build it with ``-DEXECUTORCH_PAL_DEFAULT=posix``). With
  ``-DEXECUTORCH_ENABLE_EVENT_TRACER=ON`` it writes an ETDump to ``--etdump_path``.
- ``onnxruntime_perf_test`` (onnxruntime/test/perftest): one warm-up inference, then ``-r`` runs;
  prints ``Session creation time cost: X s``, ``First inference time cost: N ms``, ``Peak working
  set size: N bytes``; the result file it is given gets one ``model,seconds,peak,cpu,index`` line
  per run.
- ``app``: a benchmark app started with ``am start -n PACKAGE/ACTIVITY --es model_dir DIR --ei
  num_iter N --ei num_warm_up_iter W [--ei num_threads T]`` that times the one .pte in DIR and
  writes ``files/benchmark_results.json`` in its data folder (read with ``run-as``, so a debug
  build): ExecuTorch's minibench (a list of metrics) or the skinedge demo app
  (``--app org.skinedge.demo/.BenchmarkActivity``, a ``skinedge.bench/2`` document, a failed row
  saying why when it cannot run the model); see benchmarks/README.md.

Each run is W warm-up + N timed iterations; iterations of the first W are dropped.
"""
from __future__ import annotations

import json
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from .adb import Adb, quote, tail

DEVICE_BIN_DIR = "/data/local/tmp"  # where the ExecuTorch docs push runners; looked up there
RESULT_FILE = "files/benchmark_results.json"  # in the app's data folder (minibench's name)
MINIBENCH = "org.pytorch.minibench/org.pytorch.minibench.BenchmarkActivity"

_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([0-9.eE+-]+) ms")
_LOADED = re.compile(r"Model loaded in ([0-9.eE+-]+) ms")
_MAX_RSS = re.compile(r"Max RSS \(KiB\): (\d+)")
_ET_ERROR = re.compile(r"^[EF] \d\d:\d\d:\d\d\.\d+ executorch:\S+\] (.*)$")


class ParseError(ValueError):
    """The runner's output holds no timings: the message says what was expected."""


@dataclass
class Measurement:
    """One run of one artifact: per-iteration latencies, or only the aggregates an app gave."""

    ok: bool
    error: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    load_s: float | None = None
    peak_rss_mb: float | None = None
    summary: dict | None = None  # latency_ms stats an app computed itself
    extra: dict = field(default_factory=dict)  # what the row keeps besides (app's device, ...)

    @classmethod
    def failed(cls, why: str) -> "Measurement":
        return cls(False, why)


def parse_executor_runner(text: str, warmup: int) -> tuple[list[float], float | None]:
    """(timed iterations' ms after the first ``warmup``, load seconds) from executor_runner's log."""
    iters = [(int(m[1]), float(m[3])) for m in _ITERATION.finditer(text)]
    if not iters:
        raise ParseError("no 'Iteration i of n: X ms' lines in executor_runner's output (build "
                         "it with -DEXECUTORCH_ENABLE_LOGGING=ON and -DEXECUTORCH_PAL_DEFAULT="
                         "posix: the android preset logs to logcat)")
    timed = [ms for i, ms in iters if i > warmup]
    if not timed:
        raise ParseError(f"executor_runner printed {len(iters)} iteration(s), all warm-up")
    loaded = _LOADED.search(text)
    return timed, float(loaded[1]) / 1e3 if loaded else None


def parse_ort_perf_test(log: str, results: str, warmup: int) -> tuple[list[float], float | None,
                                                                       float | None]:
    """(timed ms after the first ``warmup``, load s, peak working set MB) from
    onnxruntime_perf_test's stdout and its per-run result file."""
    secs = []
    for line in results.splitlines():
        parts = line.strip().rsplit(",", 4)
        if len(parts) == 5 and parts[4].isdigit():
            try:
                secs.append(float(parts[1]))
            except ValueError:
                continue
    if not secs:
        raise ParseError("no per-run 'model,seconds,peak,cpu,index' lines in "
                         "onnxruntime_perf_test's result file")
    # before onnxruntime 1.16 the result file held integer nanoseconds
    scale = 1e-6 if all(s >= 1000 and s.is_integer() for s in secs) else 1e3
    timed = [s * scale for s in secs[warmup:]]
    if not timed:
        raise ParseError(f"onnxruntime_perf_test ran {len(secs)} time(s), all warm-up")

    def number(pattern: str) -> float | None:
        m = re.search(pattern + r"\s*([0-9.eE+-]+)", log)
        return float(m[1]) if m else None

    created, first = number(r"Session creation time cost:"), number(r"First inference time cost:")
    load = created + (first or 0) / 1e3 if created is not None else None
    peak = number(r"Peak working set size:")
    return timed, load, peak / 2**20 if peak else None


def parse_max_rss_mb(text: str) -> float | None:
    """Peak resident memory from toybox `time -v` ("Max RSS (KiB): N")."""
    m = _MAX_RSS.search(text)
    return int(m[1]) / 1024 if m else None


def failure_reason(rc: int, log: str, binary: str) -> str:
    """Why a runner exited ``rc``: its last error line, or the signal that killed it."""
    errors = [m[1] for m in map(_ET_ERROR.match, log.splitlines()) if m]
    said = errors[-1] if errors else tail(log)
    if rc == 127:
        return f"{binary}: not found on the device"
    if rc == 126:
        return f"{binary}: not executable on the device (built for another ABI?)"
    if rc > 128 and rc - 128 in signal.Signals._value2member_map_:
        how = f"{binary} crashed ({signal.Signals(rc - 128).name})"
        return f"{how}: {said}" if said else how
    return f"{binary} exited {rc}" + (f": {said}" if said else "")


def parse_app_results(text: str, name: str) -> Measurement:
    """The app's benchmark_results.json: minibench's metric list, or a skinedge.bench/2 doc."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"the app's {RESULT_FILE} is not JSON ({exc})") from None
    if isinstance(doc, list):
        return _minibench(doc)
    if isinstance(doc, dict):
        from ..errors import DataError
        from .importing import rows_of

        try:
            rows = rows_of(doc, f"the app's {RESULT_FILE}")
        except DataError as exc:
            raise ParseError(str(exc)) from None
        row = next((r for r in rows if r["name"] == name), rows[0] if len(rows) == 1 else None)
        if row is None:
            raise ParseError(f"the app's {RESULT_FILE} has no row named {name}")
        if row["status"] != "ok":
            return Measurement.failed(f"the app says: {row['status']}: {row.get('error') or '?'}")
        lat = row["latency_ms"].get("1") or next(iter(row["latency_ms"].values()))
        # the phone as the app saw it is kept beside, not over, what getprop said (serial,
        # governor), as for minibench
        return Measurement(True, summary=lat, load_s=row.get("load_s"),
                           peak_rss_mb=row.get("peak_rss_mb"),
                           extra={"app_device": row["device"]} if row.get("device") else {})
    raise ParseError(f"the app's {RESULT_FILE} is neither a metric list nor a document")


def _minibench(metrics: list) -> Measurement:
    """ExecuTorch minibench: [{benchmarkModel, metric, actualValue, targetValue, deviceInfo}]."""
    try:
        values = {m["metric"]: float(m["actualValue"]) for m in metrics}
    except (TypeError, KeyError, ValueError):
        raise ParseError("minibench results: entries need 'metric' and a numeric "
                         "'actualValue'") from None
    status = values.get("load_status", 0.0)
    if status != 0:
        return Measurement.failed(f"the app could not load the model (ExecuTorch error "
                                  f"0x{int(status):x})")
    if "avg_inference_latency(ms)" not in values:
        raise ParseError("minibench results hold no avg_inference_latency(ms)")
    load = values.get("model_load_time(ms)")
    info = next((m.get("deviceInfo") for m in metrics if isinstance(m.get("deviceInfo"), dict)), {})
    return Measurement(True, load_s=load / 1e3 if load is not None else None,
                       peak_rss_mb=values.get("ram_pss_usage(mb)"),
                       summary={"mean": values["avg_inference_latency(ms)"],
                                "trimmed_mean": values.get("trimmean_inference_latency(ms)")},
                       extra={"app_device": info} if info else {})


class BinaryRunner:
    """A command-line runner pushed to (or found on) the phone and run in the work folder."""

    name = ""
    targets: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()

    def __init__(self, binary: str | None):
        self.local_binary, self.remote = binary, ""

    def prepare(self, adb: Adb, workdir: str) -> str:
        """Push the binary given, or find one in DEVICE_BIN_DIR; "" when ready, else why not."""
        if self.local_binary:
            remote = f"{workdir}/{Path(self.local_binary).name}"
            r = adb.push(self.local_binary, remote)
            if r.rc != 0:
                return f"adb push {self.local_binary} failed: {tail(r.err or r.out)}"
            r = adb.shell(f"chmod 755 {quote(remote)}")
            self.remote = remote
            return "" if r.rc == 0 else f"chmod {remote} failed: {tail(r.err or r.out)}"
        look = " ".join(f"{DEVICE_BIN_DIR}/{b}" for b in self.binaries)
        r = adb.shell(f"for b in {look}; do if [ -x $b ]; then echo $b; break; fi; done")
        self.remote = r.out.strip().splitlines()[-1] if r.rc == 0 and r.out.strip() else ""
        if not self.remote:
            return (f"{' or '.join(self.binaries)} not found in {DEVICE_BIN_DIR} on the device: "
                    "build it for the phone (benchmarks/README.md) and pass --runner-bin PATH")
        return ""

    def measure(self, adb: Adb, workdir: str, artifact: str, tag: str, warmup: int, runs: int,
                threads: int, time_v: bool, local_tmp: Path) -> Measurement:
        log = f"{artifact}.{tag}.log"
        args = self.arguments(f"{workdir}/{artifact}", tag, warmup + runs, threads)
        prefix = "toybox time -v " if time_v else ""
        r = adb.shell(f"cd {quote(workdir)} && {prefix}{quote(self.remote, *args)} "
                      f"> {quote(log)} 2>&1")
        if r.timed_out:
            return Measurement.failed(f"timed out after {adb.timeout_s:g} s (--timeout)")
        text = self._pull_text(adb, f"{workdir}/{log}", local_tmp)
        if text is None:
            return Measurement.failed(f"{Path(self.remote).name} left no output "
                                      f"({tail(r.err or r.out) or 'adb pull failed'})")
        if r.rc != 0:
            return Measurement.failed(failure_reason(r.rc, text, Path(self.remote).name))
        try:
            m = self.parse(adb, workdir, artifact, tag, text, warmup, local_tmp)
        except ParseError as exc:
            return Measurement.failed(f"cannot parse the output: {exc}")
        m.peak_rss_mb = parse_max_rss_mb(text) or m.peak_rss_mb
        return m

    def _pull_text(self, adb: Adb, remote: str, local_tmp: Path) -> str | None:
        local = local_tmp / Path(remote).name
        r = adb.pull(remote, local)
        if r.rc != 0 or not local.is_file():
            return None
        return local.read_text(errors="replace")

    def arguments(self, model: str, tag: str, executions: int, threads: int) -> list[str]:
        """The runner's flags; ``model`` is the artifact's absolute path on the device (so that
        the work folder names every process this bench starts there)."""
        raise NotImplementedError

    def parse(self, adb, workdir, artifact, tag, text, warmup, local_tmp) -> Measurement:
        raise NotImplementedError


class ExecutorRunner(BinaryRunner):
    name = "executor_runner"
    targets = ("executorch",)
    binaries = ("executor_runner", "xnn_executor_runner")

    def __init__(self, binary: str | None, etdump: bool = False):
        super().__init__(binary)
        self.etdump = etdump

    def arguments(self, model, tag, executions, threads):
        args = [f"--model_path={model}", f"--num_executions={executions}"]
        if threads:
            args.append(f"--cpu_threads={threads}")
        if self.etdump:
            args.append(f"--etdump_path={Path(model).name}.{tag}.etdp")
        return args

    def parse(self, adb, workdir, artifact, tag, text, warmup, local_tmp):
        timed, load = parse_executor_runner(text, warmup)
        m = Measurement(True, latencies_ms=timed, load_s=load)
        if self.etdump:
            name = f"{artifact}.{tag}.etdp"
            r = adb.pull(f"{workdir}/{name}", local_tmp / name)
            m.extra["etdump"] = str(local_tmp / name) if r.rc == 0 else ""
        return m


class OrtPerfTest(BinaryRunner):
    name = "ort_perf_test"
    targets = ("onnx",)
    binaries = ("onnxruntime_perf_test",)

    def arguments(self, model, tag, executions, threads):
        # -I: generated inputs (no test-data folder needed); -m times -r: a fixed run count
        return ["-I", "-m", "times", "-r", str(executions), "-x", str(threads), model,
                f"{Path(model).name}.{tag}.csv"]

    def parse(self, adb, workdir, artifact, tag, text, warmup, local_tmp):
        results = self._pull_text(adb, f"{workdir}/{artifact}.{tag}.csv", local_tmp)
        if results is None:
            raise ParseError("onnxruntime_perf_test wrote no result file")
        timed, load, peak = parse_ort_perf_test(text, results, warmup)
        return Measurement(True, latencies_ms=timed, load_s=load, peak_rss_mb=peak)


class AppRunner:
    """A benchmark app (minibench, or the skinedge demo app) started with `am start`."""

    name = "app"
    targets = ("executorch",)

    def __init__(self, component: str | None):
        self.component = component or MINIBENCH
        self.package = self.component.split("/", 1)[0]

    def prepare(self, adb: Adb, workdir: str) -> str:
        r = adb.shell(f"pm path {quote(self.package)}")
        if r.rc != 0 or "package:" not in r.out:
            return (f"the app {self.package} is not installed on the device: build and install "
                    "it (benchmarks/README.md), or name another with --app PACKAGE/ACTIVITY")
        return ""

    def measure(self, adb: Adb, workdir: str, artifact: str, tag: str, warmup: int, runs: int,
                threads: int, time_v: bool, local_tmp: Path) -> Measurement:
        folder = f"{workdir}/app-{tag}-{artifact}"  # the app runs the one .pte in model_dir
        r = adb.shell(f"mkdir -p {quote(folder)} && cp {quote(f'{workdir}/{artifact}', folder)}/")
        if r.rc != 0:
            return Measurement.failed(f"cannot stage the model for the app: {tail(r.err or r.out)}")
        run_as = f"run-as {quote(self.package)}"
        adb.shell(f"{run_as} rm -f {RESULT_FILE}")
        start = ["am", "start", "-W", "-S", "-n", self.component, "--es", "model_dir", folder,
                 "--ei", "num_iter", str(runs), "--ei", "num_warm_up_iter", str(warmup)]
        if threads:
            start += ["--ei", "num_threads", str(threads)]
        r = adb.shell(quote(*start))
        if r.rc != 0 or "Error" in r.out:
            return Measurement.failed(f"am start failed: {tail(r.out + chr(10) + r.err)}")
        deadline = time.monotonic() + adb.timeout_s
        while time.monotonic() < deadline:
            r = adb.shell(f"{run_as} cat {RESULT_FILE}",
                          timeout_s=max(1.0, deadline - time.monotonic()))
            if r.rc == 0 and r.out.strip():
                try:
                    return parse_app_results(r.out, artifact)
                except ParseError as exc:
                    if time.monotonic() + 0.5 >= deadline:
                        return Measurement.failed(f"cannot parse the output: {exc}")
            elif "not debuggable" in r.out + r.err:
                return Measurement.failed(f"run-as {self.package}: package not debuggable; "
                                          "install a debug build of the app")
            time.sleep(0.5)
        adb.shell(f"am force-stop {quote(self.package)}")
        return Measurement.failed(f"timed out after {adb.timeout_s:g} s (--timeout) waiting for "
                                  f"the app's {RESULT_FILE}")


RUNNERS = {r.name: r for r in (ExecutorRunner, OrtPerfTest, AppRunner)}
