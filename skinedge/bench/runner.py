"""``skinedge bench``: every artifact and baseline measured in its own process, interleaved.

Rows are measured round-robin (row A, B, C, A, B, C, ...) so that a noisy moment of this
shared machine spreads over all of them; figures are medians over all rounds' runs and are
also given as ratios to the eager PyTorch fp32 and plain onnxruntime fp32 baselines.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..layout import DEFAULT_MODEL
from ..errors import ConfigError, SkinedgeError
from ..targets import TARGETS, target_for_path

BASELINE_EAGER, BASELINE_ORT = "eager-fp32", "onnx-fp32"


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[str, ...] = ()
    targets: tuple[str, ...] = tuple(TARGETS)
    threads: int = 0  # 0: all cores
    batches: tuple[int, ...] = (1, 8)
    data: str | None = None
    split: str = "test"
    out: str = "benchmarks/results"
    rounds: int = 3
    warmup: int = 5
    runs: int = 20
    timeout_s: float = 600.0
    compile_baseline: bool = True
    progress: bool = True

    def __post_init__(self):
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise ConfigError(f"unknown target(s) {', '.join(bad)}; choose from {', '.join(TARGETS)}")
        if not self.batches or min(self.batches) < 1:
            raise ConfigError("--batch needs positive sizes, e.g. 1,8")


@dataclass
class Row:
    name: str
    kind: str  # "artifact" | "eager" | "compile"
    target: str
    quantization: str
    path: str
    role: str = "candidate"  # or "baseline"
    status: str = "ok"  # ok | failed | skipped
    error: str = ""
    timings: dict = field(default_factory=dict)
    load_s: list = field(default_factory=list)
    peak_rss_mb: float = 0.0
    pids: list = field(default_factory=list)
    accuracy: dict | None = None


def stats(ms: list[float]) -> dict:
    a = np.sort(np.asarray(ms))
    k = int(len(a) * 0.1)
    trimmed = a[k:len(a) - k] if len(a) > 2 * k else a
    return {"n": int(len(a)), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "trimmed_mean": float(trimmed.mean()),
            "min": float(a[0])}


def plan_rows(cfg: BenchConfig, out: Path) -> tuple[list[Row], list]:
    """Rows to measure: checkpoints are exported to every preset first."""
    from ..exporting import ExportConfig, run_export

    rows, exports = [], []
    for m in cfg.models or (str(DEFAULT_MODEL),):
        p = Path(m)
        t = target_for_path(p)
        try:
            card = t.load_module().read_card(p)
        except SkinedgeError as exc:
            rows.append(Row(p.name, "artifact", t.name, "?", str(p), status="failed", error=str(exc)))
            continue
        if t.name != "eager":
            role = "baseline" if f"{t.name}-{card.quantization}" == BASELINE_ORT else "candidate"
            rows.append(Row(p.name, "artifact", t.name, card.quantization, str(p), role))
            continue
        rows.append(Row(f"{card.architecture} eager fp32", "eager", "eager", "fp32", str(p), "baseline"))
        if cfg.compile_baseline:
            rows.append(Row(f"{card.architecture} torch.compile", "compile", "eager", "fp32",
                            str(p), "baseline"))
        dest = out / "artifacts" / card.architecture
        results = run_export(ExportConfig(model=str(p), target="all", quant="all", out=str(dest),
                                          data=cfg.data, progress=cfg.progress))
        exports.extend(results)
        for r in results:
            role = "baseline" if r.recipe == BASELINE_ORT else "candidate"
            row = Row(Path(r.path).name if r.path else r.recipe, "artifact", r.target,
                      r.quantization, r.path, role)
            if r.status == "failed":
                row.status, row.error = "failed", "export failed: " + "; ".join(r.problems)
            rows.append(row)
    for row in rows:
        if row.target == "coreml" and sys.platform != "darwin" and row.status == "ok":
            row.status, row.error = "skipped", "CoreML runs only on macOS"
    return [r for r in rows if r.target in cfg.targets or r.kind == "compile" and "eager" in cfg.targets], exports


def _spawn(row: Row, cfg: BenchConfig, threads: int, with_accuracy: bool) -> dict:
    spec = {"kind": row.kind, "path": row.path, "batches": list(cfg.batches), "warmup": cfg.warmup,
            "runs": cfg.runs, "threads": threads, "split": cfg.split,
            "data": cfg.data if with_accuracy else None}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    try:
        p = subprocess.run([sys.executable, "-m", "skinedge.bench.worker", json.dumps(spec)],
                           capture_output=True, text=True, timeout=cfg.timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {cfg.timeout_s:.0f} s"}
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"ok": False, "error": f"worker exited {p.returncode}: {tail[0][:300]}"}


def measure_rows(rows: list[Row], cfg: BenchConfig, threads: int) -> None:
    from tqdm import tqdm

    live = [r for r in rows if r.status == "ok"]
    bar = tqdm(total=len(live) * cfg.rounds, desc="bench", disable=not cfg.progress, unit="run")
    for rnd in range(cfg.rounds):
        for row in live:
            if row.status != "ok":
                bar.update(1)
                continue
            bar.set_postfix_str(f"round {rnd + 1}: {row.name}"[:60])
            res = _spawn(row, cfg, threads, with_accuracy=rnd == cfg.rounds - 1 and bool(cfg.data))
            bar.update(1)
            if not res.get("ok"):
                row.status, row.error = "failed", res.get("error", "unknown error")
                continue
            row.load_s.append(res["load_s"])
            row.peak_rss_mb = max(row.peak_rss_mb, res["peak_rss_mb"])
            row.pids.append(res["pid"])
            for b, ms in res["latencies_ms"].items():
                row.timings.setdefault(b, []).extend(ms)
            if "accuracy" in res:
                row.accuracy = res["accuracy"]
    bar.close()


def run_bench(cfg: BenchConfig) -> dict:
    from .flops import measure_matmul_peak
    from .report import assemble, write_results

    threads = cfg.threads or os.cpu_count() or 1
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows, exports = plan_rows(cfg, out)
    if not rows:
        raise ConfigError("nothing to benchmark for the chosen --targets")
    peak = measure_matmul_peak(threads)
    measure_rows(rows, cfg, threads)
    doc = assemble(rows, cfg, threads, peak, exports, time.time() - t0)
    write_results(doc, out)
    return doc
