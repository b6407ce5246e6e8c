"""``skinedge bench``: every artifact and baseline measured in its own process, interleaved.

Rows are measured round-robin (row A, B, C, A, B, C, ...) so that a noisy moment of this
shared machine spreads over all of them; figures are medians over all rounds' runs and are
also given as ratios to the baselines the target table names (eager PyTorch fp32, plain
onnxruntime fp32). Balanced accuracy comes from ``data`` (default: the sample shipped with
skinedge), measured once per row in its last round.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import output_folder
from ..config import Config, option
from ..errors import ConfigError, SkinedgeError
from ..layout import DEFAULT_MODEL, SAMPLE_DATA
from ..targets import (EXPORT_TARGETS, TARGETS, Target, artifacts_in, get_target,
                       target_for_path)

DEFAULT_OUT = "bench_results"


@dataclass(frozen=True)
class BenchConfig(Config):
    models: tuple[str, ...] = option((), cli=False)   # positional MODEL... on the command line
    targets: tuple[str, ...] = option(tuple(TARGETS), "comma-separated subset of the targets",
                                      flag="--target")
    threads: int = option(0, "threads per runtime (0: all cores)", min=0, max=1024)
    batches: tuple[int, ...] = option((1, 8), "batch sizes, comma-separated", flag="--batch-sizes",
                                      min=1, max=4096)
    data: str = option(str(SAMPLE_DATA), "labelled HAM10000 folder for the balanced-accuracy "
                       "column (the report names it)", default_text="the sample shipped with skinedge")
    split: str = option("test", "split of --data for the accuracy column",
                        choices=("test", "val", "all"))
    out: str = option(DEFAULT_OUT, "results folder (JSON, Markdown, plots)")
    rounds: int = option(3, "interleaved rounds", min=1, max=1000)
    warmup: int = option(5, "warm-up runs per measurement", min=0, max=100_000)
    runs: int = option(20, "timed runs per round", min=1, max=1_000_000)
    timeout_s: float = option(600.0, "seconds per measurement", flag="--timeout",
                              above=0, max=86_400)
    compile_baseline: bool = option(True, "the torch.compile baseline row", flag="--compile")
    native_runner: str | None = option(None, "a native ExecuTorch runner (native/skinedge_runner, "
                                       "or executor_runner) that times each .pte beside its "
                                       "Python-binding row, batch 1 (host runs)",
                                       flag="--native-runner", metavar="PATH")
    progress: bool = option(True, cli=False)

    def __post_init__(self):
        super().__post_init__()
        if self.native_runner:
            from .native import check_binary

            check_binary(self.native_runner)
        bad = [t for t in self.targets if t not in TARGETS]
        if bad:
            raise ConfigError(f"unknown target(s) {', '.join(bad)}; choose from {', '.join(TARGETS)}")
        if not self.batches:
            raise ConfigError("--batch-sizes needs positive sizes, e.g. 1,8")


@dataclass
class Row:
    name: str
    kind: str  # "artifact" (any checkpoint or artifact, on its target's runtime) | "compile"
    # | "native" (a .pte on the --native-runner binary)
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
    accuracy_error: str = ""


def _role(target: Target, quantization: str) -> str:
    return "baseline" if target.baseline and quantization == target.quantizations[0] else "candidate"


def _checkpoint_rows(t: Target, p: Path, card, cfg: BenchConfig, out: Path) -> tuple[list[Row], list]:
    """The checkpoint itself, under torch.compile, and exported to every preset of the
    benchmarked targets."""
    from ..exporting import ExportConfig, run_export
    from ..recipes import resolve

    q = t.quantizations[0]  # a checkpoint runs in float32 whatever dtype it is stored in
    rows = [Row(f"{card.architecture} {t.name} {q}", "artifact", t.name, q, str(p), _role(t, q))]
    if cfg.compile_baseline:
        rows.append(Row(f"{card.architecture} torch.compile", "compile", t.name, q, str(p), "baseline"))
    recipes = [r for name in EXPORT_TARGETS if name in cfg.targets for r in resolve(name, "all")]
    results = run_export(ExportConfig(model=str(p), out=str(out / "artifacts" / card.architecture),
                                      data=cfg.data, progress=cfg.progress), recipes) if recipes else []
    for r in results:
        row = Row(Path(r.path).name if r.path else r.recipe, "artifact", r.target, r.quantization,
                  r.path, _role(get_target(r.target), r.quantization))
        if r.status == "failed":
            row.status, row.error = "failed", "export failed: " + "; ".join(r.problems)
        rows.append(row)
    return rows, results


def _expand(models) -> list[Path]:
    """Paths as given, except that a folder which is not a checkpoint stands for the
    artifacts in it (``skinedge bench artifacts``)."""
    out = []
    for m in map(Path, models):
        if not m.exists():
            raise ConfigError(f"{m}: no such checkpoint folder or artifact")
        is_folder_of_models = m.is_dir() and not (m / "card.json").is_file() and \
            not any(m.name.endswith(t.suffix) for t in TARGETS.values() if t.suffix)
        out.extend(artifacts_in(m) if is_folder_of_models else [m])
    return out


def plan_rows(cfg: BenchConfig, out: Path) -> tuple[list[Row], list]:
    """Rows to measure: checkpoints are exported to every preset first; rows whose runtime
    cannot run on this machine are kept as skipped, with the reason."""
    rows, exports = [], []
    for p in _expand(cfg.models or (str(DEFAULT_MODEL),)):
        t = target_for_path(p)
        try:
            card = t.load_module().read_card(p)
        except SkinedgeError as exc:
            rows.append(Row(p.name, "artifact", t.name, "?", str(p), status="failed", error=str(exc)))
            continue
        if t.reference:
            more, results = _checkpoint_rows(t, p, card, cfg, out)
            rows.extend(more)
            exports.extend(results)
        else:
            rows.append(Row(p.name, "artifact", t.name, card.quantization, str(p),
                            _role(t, card.quantization)))
    for row in rows:
        runs, why = get_target(row.target).can_run_here()
        if row.status == "ok" and not runs:
            row.status, row.error = "skipped", why
    if cfg.native_runner:
        from .native import native_rows

        rows = native_rows(rows, cfg.batches)
    return [r for r in rows if r.target in cfg.targets], exports


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


def _measure(row: Row, cfg: BenchConfig, threads: int, with_accuracy: bool) -> dict:
    from .native import KIND, measure

    if row.kind == KIND:
        return measure(cfg.native_runner, row.path, cfg.warmup, cfg.runs, threads, cfg.timeout_s)
    return _spawn(row, cfg, threads, with_accuracy)


def _record(row: Row, res: dict) -> None:
    row.load_s.append(res["load_s"])
    row.peak_rss_mb = max(row.peak_rss_mb, res["peak_rss_mb"])
    row.pids.append(res["pid"])
    for b, ms in res["latencies_ms"].items():
        row.timings.setdefault(b, []).extend(ms)
    if "accuracy" in res:
        row.accuracy = res["accuracy"]
    row.accuracy_error = res.get("accuracy_error", row.accuracy_error)


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
            res = _measure(row, cfg, threads, with_accuracy=rnd == cfg.rounds - 1)
            bar.update(1)
            if res.get("ok"):
                _record(row, res)
            else:
                row.status, row.error = "failed", res.get("error", "unknown error")
    bar.close()


def run_bench(cfg: BenchConfig) -> dict:
    from .flops import measure_matmul_peak
    from .report import assemble, write_results

    threads = cfg.threads or os.cpu_count() or 1
    out = output_folder(cfg.out)
    t0 = time.time()
    rows, exports = plan_rows(cfg, out)
    if not rows:
        raise ConfigError("nothing to benchmark for the chosen --targets")
    if all(r.status == "failed" for r in rows):
        raise ConfigError("nothing to benchmark: " + "; ".join(f"{r.error[:200]}" for r in rows))
    peak = measure_matmul_peak(threads)
    measure_rows(rows, cfg, threads)
    doc = assemble(rows, cfg, threads, peak, exports, time.time() - t0)
    write_results(doc, out)
    return doc
