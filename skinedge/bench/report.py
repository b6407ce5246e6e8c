"""Benchmark results: one JSON schema (see benchmarks/README.md), a Markdown table, plots."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

from ..card import software_versions
from ..targets import target_for_path

SCHEMA = "skinedge.bench/1"


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


def _card(path: str):
    return target_for_path(path).load_module().read_card(Path(path))


def assemble(rows, cfg, threads: int, peaks: dict, exports, seconds: float) -> dict:
    from .flops import onnx_macs
    from ..targets import artifact_size
    from .runner import BASELINE_EAGER, BASELINE_ORT, stats

    onnx_count = {}
    for r in rows:
        if r.target == "onnx" and r.quantization == "fp32" and r.path and Path(r.path).exists():
            macs = onnx_macs(r.path)
            onnx_count[_card(r.path).architecture] = 2 * sum(macs.values())
    out_rows = []
    for r in rows:
        d = {k: v for k, v in asdict(r).items() if k not in ("timings", "load_s")}
        if r.path and Path(r.path).exists() and r.status != "failed" or r.timings:
            card = _card(r.path)
            d.update(size_bytes=artifact_size(r.path) if r.kind == "artifact" else
                     artifact_size(Path(r.path) / "model.safetensors"),
                     architecture=card.architecture, input_size=card.input_size,
                     params=card.params, flops=card.flops, macs=card.macs,
                     flops_onnx_graph=onnx_count.get(card.architecture))
        d["load_s"] = float(sorted(r.load_s)[len(r.load_s) // 2]) if r.load_s else None
        d["latency_ms"] = {b: stats(ms) for b, ms in r.timings.items()}
        d["throughput_img_s"] = {b: int(b) / (s["median"] / 1e3) for b, s in d["latency_ms"].items()}
        lat1 = d["latency_ms"].get(str(cfg.batches[0]))
        if lat1 and d.get("flops"):
            achieved = d["flops"] * cfg.batches[0] / (lat1["median"] / 1e3) / 1e9
            d["gflops_achieved"] = achieved
            d["fraction_of_matmul_peak"] = achieved / peaks["peak"]
        out_rows.append(d)
    by_name = {}
    for d, r in zip(out_rows, rows):
        key = (d.get("architecture"), "eager" if r.kind == "eager" else
               f"{r.target}-{r.quantization}" if r.role == "baseline" else None)
        by_name[key] = d
    for d in out_rows:
        arch = d.get("architecture")
        base = {"eager_fp32": by_name.get((arch, "eager")), "onnxruntime_fp32": by_name.get((arch, BASELINE_ORT))}
        d["ratios"] = {}
        for label, ref in base.items():
            if not ref or not ref["latency_ms"] or not d["latency_ms"]:
                continue
            d["ratios"][label] = {b: d["latency_ms"][b]["median"] / ref["latency_ms"][b]["median"]
                                  for b in d["latency_ms"] if b in ref["latency_ms"]}
    return {
        "schema": SCHEMA, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": host_info(threads), "software": software_versions(),
        "matmul_peak_gflops": peaks["peak"], "matmul_gflops_by_library": peaks, "batches": list(cfg.batches),
        "settings": {"rounds": cfg.rounds, "warmup": cfg.warmup, "runs_per_round": cfg.runs,
                     "data": cfg.data, "split": cfg.split, "baselines": [BASELINE_EAGER, BASELINE_ORT]},
        "seconds": round(seconds, 1), "rows": out_rows,
        "exports": [asdict(e) for e in exports],
    }


def markdown(doc: dict) -> str:
    b0 = str(doc["batches"][0])
    bl = str(doc["batches"][-1])
    h = doc["host"]
    lines = [f"Measured {doc['date']} on {h['cpu']} ({h['cores']} cores, {h['threads']} threads), "
             f"{doc['settings']['rounds']} interleaved rounds x {doc['settings']['runs_per_round']} runs; "
             f"matmul peak {doc['matmul_peak_gflops']:.0f} GFLOP/s (fp32 1024x1024, best of "
             + ", ".join(f"{k} {v:.0f}" for k, v in doc["matmul_gflops_by_library"].items() if k != "peak") + ").", "",
             f"| model | status | load s | median ms (b={b0}) | p90 ms | vs eager | vs ORT | img/s (b={bl}) "
             f"| peak RSS MB | size MB | GFLOP/s (% peak) | bal-acc |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in doc["rows"]:
        lat = d["latency_ms"].get(b0)
        rat = d.get("ratios", {})
        f = lambda v, fmt: format(v, fmt) if v is not None else "-"  # noqa: E731
        acc = d.get("accuracy") or {}
        lines.append("| " + " | ".join([
            d["name"], d["status"] + (f": {d['error'][:60]}" if d["error"] else ""),
            f(d.get("load_s"), ".2f"), f(lat and lat["median"], ".2f"), f(lat and lat["p90"], ".2f"),
            f(rat.get("eager_fp32", {}).get(b0), ".2f") + ("x" if rat.get("eager_fp32") else ""),
            f(rat.get("onnxruntime_fp32", {}).get(b0), ".2f") + ("x" if rat.get("onnxruntime_fp32") else ""),
            f(d["throughput_img_s"].get(bl), ".0f"), f(d.get("peak_rss_mb") or None, ".0f"),
            f(d.get("size_bytes", 0) / 1e6 if d.get("size_bytes") else None, ".2f"),
            (f"{d['gflops_achieved']:.1f} ({100 * d['fraction_of_matmul_peak']:.0f}%)"
             if d.get("gflops_achieved") else "-"),
            f(acc.get("balanced_accuracy"), ".4f")]) + " |")
    arch = next((d for d in doc["rows"] if d.get("flops")), None)
    if arch:
        lines += ["", f"FLOPs per image ({arch['architecture']} @ {arch['input_size']} px): "
                  f"{arch['flops'] / 1e6:.1f} MFLOP by torch FlopCounterMode, "
                  f"{(arch.get('flops_onnx_graph') or 0) / 1e6:.1f} MFLOP on the ONNX graph "
                  f"({arch['params'] / 1e6:.2f} M parameters)."]
    return "\n".join(lines) + "\n"


def plots(doc: dict, out: Path) -> None:
    from ..plots import pyplot, save_figure

    plt = pyplot()
    b0 = str(doc["batches"][0])
    pts = [(d["name"], d["latency_ms"][b0]["median"], d.get("size_bytes", 0) / 1e6,
            (d.get("accuracy") or {}).get("balanced_accuracy")) for d in doc["rows"]
           if d["status"] == "ok" and b0 in d["latency_ms"]]
    for idx, xlabel, fname in ((1, f"median latency, batch {b0} (ms)", "latency_vs_accuracy.png"),
                               (2, "artifact size (MB)", "size_vs_accuracy.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, p in enumerate(pts):
            y = p[3] if p[3] is not None else 0
            ax.scatter(p[idx], y)
            # alternate label offsets: fp32 artifacts often sit on the same point
            ax.annotate(p[0].replace("mobilenetv4_conv_small", "mnv4s"), (p[idx], y), fontsize=7,
                        xytext=(4, 10 - 9 * (k % 3)), textcoords="offset points")
        if idx == 1:
            from matplotlib.ticker import FormatStrFormatter

            ax.set_xscale("log")  # latencies span an order of magnitude or more
            for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
                axis(FormatStrFormatter("%g"))
        ax.set_xlabel(xlabel), ax.set_ylabel("balanced accuracy"), ax.grid(alpha=0.3, which="both")
        ax.set_title(f"{doc['host']['cpu'][:40]}, {doc['host']['threads']} threads")
        save_figure(fig, out / fname)


def write_results(doc: dict, out: Path) -> None:
    stamp = doc["date"][:19].replace(":", "").replace("-", "")
    text = json.dumps(doc, indent=2)
    (out / f"bench-{stamp}.json").write_text(text)
    (out / "latest.json").write_text(text)
    (out / "latest.md").write_text(markdown(doc))
    plots(doc, out)
