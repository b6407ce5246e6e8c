"""Benchmark results: one JSON schema (see benchmarks/README.md), a Markdown table, plots.

Schema 2 (from 1): ``fraction_of_matmul_peak`` only on fp32 rows (the peak is an fp32
matmul); ``flops_graph`` / ``flops_graph_from`` replace ``flops_onnx_graph``; rows carry
``accuracy_error``; ``accuracy_data`` says which images the accuracy column comes from.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..card import software_versions
from ..layout import SAMPLE_DATA
from ..targets import TARGETS, artifact_size, target_for_path

SCHEMA = "skinedge.bench/2"
PLOTS = ("latency_vs_accuracy.png", "size_vs_accuracy.png")


def stats(ms: list[float]) -> dict:
    a = np.sort(np.asarray(ms))
    k = int(len(a) * 0.1)
    trimmed = a[k:len(a) - k] if len(a) > 2 * k else a
    return {"n": int(len(a)), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "trimmed_mean": float(trimmed.mean()),
            "min": float(a[0])}


def host_info(threads: int) -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "os": platform.platform(),
            "machine": platform.machine()}


def baselines() -> dict[str, tuple[str, str]]:
    """Ratio label -> (target, quantization) of each baseline the target table names."""
    return {t.baseline: (t.name, t.quantizations[0]) for t in TARGETS.values() if t.baseline}


def _card(path: str):
    return target_for_path(path).load_module().read_card(Path(path))


def _has_artifact(r) -> bool:
    return bool(r.path and Path(r.path).exists() and r.status != "failed" or r.timings)


def _graph_flops(rows) -> dict[str, tuple[int, str]]:
    """Architecture -> (FLOPs counted on an artifact's own graph, that artifact's name)."""
    out: dict[str, tuple[int, str]] = {}
    for r in rows:
        if not _has_artifact(r) or r.kind != "artifact":
            continue
        arch = _card(r.path).architecture
        macs = None if arch in out else target_for_path(r.path).load_module().graph_macs(Path(r.path))
        if macs:
            out[arch] = (2 * sum(macs.values()), Path(r.path).name)
    return out


def _row_doc(r, cfg, peaks: dict, graph_flops: dict) -> dict:
    d = {k: v for k, v in asdict(r).items() if k not in ("timings", "load_s")}
    if _has_artifact(r):
        card = _card(r.path)
        counted, source = graph_flops.get(card.architecture, (None, None))
        d.update(size_bytes=artifact_size(r.path), architecture=card.architecture,
                 input_size=card.input_size, params=card.params, flops=card.flops, macs=card.macs,
                 flops_graph=counted, flops_graph_from=source)
    d["load_s"] = float(sorted(r.load_s)[len(r.load_s) // 2]) if r.load_s else None
    d["latency_ms"] = {b: stats(ms) for b, ms in r.timings.items()}
    d["throughput_img_s"] = {b: int(b) / (s["median"] / 1e3) for b, s in d["latency_ms"].items()}
    lat1 = d["latency_ms"].get(str(cfg.batches[0]))
    if lat1 and d.get("flops"):
        d["gflops_achieved"] = d["flops"] * cfg.batches[0] / (lat1["median"] / 1e3) / 1e9
        if r.quantization == "fp32":  # an int8 or fp16 kernel is not bounded by an fp32 peak
            d["fraction_of_matmul_peak"] = d["gflops_achieved"] / peaks["peak"]
    return d


def _add_ratios(out_rows: list[dict]) -> None:
    """Median latency of each row over each baseline's, per batch size, same architecture."""
    refs = {(d.get("architecture"), d["target"], d["quantization"]): d
            for d in out_rows if d["kind"] == "artifact" and d["role"] == "baseline"}
    for d in out_rows:
        d["ratios"] = {}
        for label, (target, quant) in baselines().items():
            ref = refs.get((d.get("architecture"), target, quant))
            if ref and ref["latency_ms"] and d["latency_ms"]:
                d["ratios"][label] = {b: d["latency_ms"][b]["median"] / ref["latency_ms"][b]["median"]
                                      for b in d["latency_ms"] if b in ref["latency_ms"]}


def assemble(rows, cfg, threads: int, peaks: dict, exports, seconds: float) -> dict:
    graph_flops = _graph_flops(rows)
    out_rows = [_row_doc(r, cfg, peaks, graph_flops) for r in rows]
    _add_ratios(out_rows)
    return {
        "schema": SCHEMA, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": host_info(threads), "software": software_versions(),
        "matmul_peak_gflops": peaks["peak"], "matmul_gflops_by_library": peaks, "batches": list(cfg.batches),
        "settings": {"rounds": cfg.rounds, "warmup": cfg.warmup, "runs_per_round": cfg.runs,
                     "data": cfg.data, "split": cfg.split, "baselines": baselines()},
        "accuracy_data": {"data": cfg.data, "split": cfg.split,
                          "shipped_sample": Path(cfg.data).resolve() == SAMPLE_DATA.resolve()},
        "seconds": round(seconds, 1), "rows": out_rows,
        "exports": [asdict(e) for e in exports],
    }


def _fmt(v, fmt: str) -> str:
    return format(v, fmt) if v is not None else "-"


def _table_line(d: dict, b0: str, bl: str) -> str:
    lat, rat = d["latency_ms"].get(b0), d.get("ratios", {})
    cells = [d["name"], d["status"] + (f": {d['error'][:60]}" if d["error"] else ""),
             _fmt(d.get("load_s"), ".2f"), _fmt(lat and lat["median"], ".2f"), _fmt(lat and lat["p90"], ".2f")]
    cells += [_fmt(rat.get(label, {}).get(b0), ".2f") + ("x" if label in rat else "") for label in baselines()]
    gflops = _fmt(d.get("gflops_achieved"), ".1f")
    if d.get("fraction_of_matmul_peak") is not None:
        gflops += f" ({100 * d['fraction_of_matmul_peak']:.0f}%)"
    cells += [_fmt(d["throughput_img_s"].get(bl), ".0f"), _fmt(d.get("peak_rss_mb") or None, ".0f"),
              _fmt(d.get("size_bytes", 0) / 1e6 if d.get("size_bytes") else None, ".2f"), gflops,
              _fmt((d.get("accuracy") or {}).get("balanced_accuracy"), ".4f")]
    return "| " + " | ".join(cells) + " |"


def _accuracy_legend(doc: dict) -> list[str]:
    acc = doc["accuracy_data"]
    n = next((d["accuracy"]["n"] for d in doc["rows"] if d.get("accuracy")), None)
    where = (f"the sample shipped with skinedge ({acc['data']}); pass --data for a larger set"
             if acc["shipped_sample"] else acc["data"])
    count = f"{n} images" if n else "not measured for any row"
    lines = [f"bal-acc: balanced accuracy on the {acc['split']} split ({count}) of {where}."]
    lines += [f"- {d['name']}: no accuracy: {d['accuracy_error']}" for d in doc["rows"] if d.get("accuracy_error")]
    return lines


def markdown(doc: dict) -> str:
    b0, bl = str(doc["batches"][0]), str(doc["batches"][-1])
    h = doc["host"]
    vs = "".join(f" vs {label} |" for label in baselines())
    lines = [f"Measured {doc['date']} on {h['cpu']} ({h['cores']} cores, {h['threads']} threads), "
             f"{doc['settings']['rounds']} interleaved rounds x {doc['settings']['runs_per_round']} runs; "
             f"matmul peak {doc['matmul_peak_gflops']:.0f} GFLOP/s (fp32 1024x1024, best of "
             + ", ".join(f"{k} {v:.0f}" for k, v in doc["matmul_gflops_by_library"].items() if k != "peak") + ").", "",
             f"| model | status | load s | median ms (b={b0}) | p90 ms |{vs} img/s (b={bl}) "
             f"| peak RSS MB | size MB | GFLOP/s (% of fp32 peak) | bal-acc |",
             "|---" * (10 + len(baselines())) + "|"]
    lines += [_table_line(d, b0, bl) for d in doc["rows"]]
    lines += ["", "GFLOP/s: the model's FLOPs per image x batch / median latency. The % of the fp32 "
              "matmul peak is given for fp32 rows only: int8 and fp16 kernels are not bounded by it."]
    lines += _accuracy_legend(doc)
    arch = next((d for d in doc["rows"] if d.get("flops")), None)
    if arch:
        graph = (f"{arch['flops_graph'] / 1e6:.1f} MFLOP on the graph of {arch['flops_graph_from']}"
                 if arch.get("flops_graph") else "no artifact graph counted")
        lines += ["", f"FLOPs per image ({arch['architecture']} @ {arch['input_size']} px): "
                  f"{arch['flops'] / 1e6:.1f} MFLOP by torch FlopCounterMode, {graph} "
                  f"({arch['params'] / 1e6:.2f} M parameters)."]
    return "\n".join(lines + _export_lines(doc.get("exports") or [])) + "\n"


def _export_lines(exports: list[dict]) -> list[str]:
    """The parity table of the exports the bench made from checkpoints."""
    if not exports:
        return []
    lines = ["", "Exports made for this run (parity against the eager model on real validation "
             "images):", "", "| artifact | status | n | top-1 agreement | mean cosine | "
             "max abs Δprob | bal-acc (Δ) | MB |", "|---|---|---|---|---|---|---|---|"]
    for e in exports:
        par = e.get("parity") or {}
        name = Path(e["path"]).name if e.get("path") else e["recipe"]
        if "top1_agreement" in par:
            figures = (f"{par['n']} | {par['top1_agreement']:.3f} | {par['cosine_mean']:.5f} | "
                       f"{par['max_abs_diff']:.1e} | {par['balanced_accuracy']:.4f} "
                       f"({-par['balanced_accuracy_drop']:+.4f})")
        else:
            figures = "- | - | - | - | -"
        lines.append(f"| {name} | {e['status']} | {figures} | {(e.get('size_bytes') or 0) / 1e6:.2f} |")
    return lines


def plot_points(doc: dict) -> list[tuple[str, float, float, float]]:
    """(name, median latency ms at the first batch size, size MB, balanced accuracy) of the
    rows whose accuracy was measured: a row without one is left off, as unknown is not zero."""
    b0 = str(doc["batches"][0])
    return [(d["name"], d["latency_ms"][b0]["median"], d.get("size_bytes", 0) / 1e6,
             d["accuracy"]["balanced_accuracy"]) for d in doc["rows"]
            if d["status"] == "ok" and b0 in d["latency_ms"] and d.get("accuracy")]


def plots(doc: dict, out: Path) -> None:
    """Latency and size against balanced accuracy (``plot_points``). No row with an accuracy:
    no plots, and stale ones from an earlier run in ``out`` are removed."""
    from ..plots import pyplot, save_figure

    b0 = str(doc["batches"][0])
    pts = plot_points(doc)
    if not pts:
        for name in PLOTS:
            (out / name).unlink(missing_ok=True)
        return
    plt = pyplot()
    acc = doc["accuracy_data"]
    for idx, xlabel, fname in ((1, f"median latency, batch {b0} (ms)", PLOTS[0]),
                               (2, "artifact size (MB)", PLOTS[1])):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, p in enumerate(pts):
            ax.scatter(p[idx], p[3])
            # alternate label offsets: fp32 artifacts often sit on the same point
            ax.annotate(p[0].replace("mobilenetv4_conv_small", "mnv4s"), (p[idx], p[3]), fontsize=7,
                        xytext=(4, 10 - 9 * (k % 3)), textcoords="offset points")
        if idx == 1:
            from matplotlib.ticker import FormatStrFormatter

            ax.set_xscale("log")  # latencies span an order of magnitude or more
            for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
                axis(FormatStrFormatter("%g"))
        ax.set_xlabel(xlabel), ax.grid(alpha=0.3, which="both")
        ax.set_ylabel(f"balanced accuracy ({acc['split']} of {Path(acc['data']).name})")
        ax.set_title(f"{doc['host']['cpu'][:40]}, {doc['host']['threads']} threads")
        save_figure(fig, out / fname)


def write_results(doc: dict, out: Path) -> None:
    stamp = doc["date"][:19].replace(":", "").replace("-", "")
    text = json.dumps(doc, indent=2)
    (out / f"bench-{stamp}.json").write_text(text)
    (out / "latest.json").write_text(text)
    (out / "latest.md").write_text(markdown(doc))
    plots(doc, out)
