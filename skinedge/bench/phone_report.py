"""The table of phone rows (``--device`` runs and ``--import``ed files): the host table's
columns that a phone can give, with the device each row ran on, and the files written for it."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ..atomic import replacing
from ..targets import TARGETS
from .report import _fmt, baselines


def device_label(d: dict) -> str:
    """"Google Pixel 8 (Android 14)": short enough for a table cell."""
    name = " ".join(x for x in (d.get("manufacturer"), d.get("model")) if x) or "unknown device"
    osv = (d.get("os") or "").split(" (")[0]
    return f"{name} ({osv})" if osv else name


def device_line(d: dict) -> str:
    parts = [d.get("soc"), d.get("os"), d.get("abi"),
             f"governor {d['governor']}" if d.get("governor") else "",
             f"{d['cores']} cores" if d.get("cores") else "",
             f"serial {d['serial']}" if d.get("serial") else ""]
    return f"- {device_label(d)}: " + ", ".join(p for p in parts if p)


def add_ratios(rows: list[dict]) -> None:
    """Median latency over the baseline row's (plain onnxruntime fp32 of the same
    architecture) measured on the same device; none where that row is missing."""
    for d in rows:
        d["ratios"] = {}
        key = (device_label(d.get("device") or {}), d.get("architecture"))
        for label, (target, quant) in baselines().items():
            ref = next((r for r in rows if (device_label(r.get("device") or {}),
                                            r.get("architecture")) == key
                        and r["target"] == target and r["quantization"] == quant
                        and r["status"] == "ok"), None)
            mine, base = (_median(x) for x in (d, ref)) if ref else (None, None)
            if mine and base:
                d["ratios"][label] = {"1": mine / base}


def _median(d: dict) -> float | None:
    return ((d.get("latency_ms") or {}).get("1") or {}).get("median")


def _cells(d: dict) -> list[str]:
    lat = (d.get("latency_ms") or {}).get("1") or {}
    rat = d.get("ratios") or {}
    err = f": {d['error'][:80]}" if d.get("error") else ""
    runner = d.get("runner") or (f"import {d['source']}" if d.get("source") else "-")
    size = d.get("size_bytes")
    return ([d["name"], device_label(d.get("device") or {}), runner, d["status"] + err,
             _fmt(d.get("load_s"), ".3f")]
            + [_fmt(lat.get(k), ".2f") for k in ("median", "p90", "p99", "trimmed_mean")]
            + [_fmt(lat.get("n"), "d")]
            + [_fmt(rat.get(label, {}).get("1"), ".2f") + ("x" if label in rat else "")
               for label in _phone_baselines()]
            + [_fmt(d.get("peak_rss_mb"), ".0f"), _fmt(size / 1e6 if size else None, ".2f")])


def _phone_baselines() -> list[str]:
    """Baselines a phone can run: not the eager checkpoint (no PyTorch on a phone)."""
    return [label for label, (target, _) in baselines().items() if not TARGETS[target].reference]


def _heading(doc: dict) -> list[str]:
    s = doc.get("settings") or {}
    if doc.get("imported"):
        files = ", ".join(f"{Path(f['file']).name} ({f.get('date') or 'undated'})"
                          for f in doc["imported"])
        return [f"Imported {doc['date']} from {len(doc['imported'])} file(s): {files}. Each row "
                "is as its app or run measured it, on the device named in its row."]
    threads = s.get("threads") or "the runner's default"
    return [f"Measured {doc['date']} on a phone over "
            f"{'adb' if (doc.get('device') or {}).get('platform') == 'android' else 'xcrun devicectl'}"
            f", not on this host's CPU: {s.get('rounds')} round(s) x {s.get('runs_per_round')} "
            f"timed runs after {s.get('warmup')} warm-up runs, threads: {threads}, batch 1, "
            f"time limit {s.get('timeout_s'):g} s per run."]


def markdown(doc: dict) -> str:
    vs = "".join(f" vs {label} |" for label in _phone_baselines())
    lines = _heading(doc) + ["", "| model | device | runner | status | load s | median ms | p90 ms "
                                 f"| p99 ms | trimmed mean ms | n |{vs} peak mem MB | size MB |",
                             "|---" * (12 + len(_phone_baselines())) + "|"]
    lines += ["| " + " | ".join(_cells(d)) + " |" for d in doc["rows"]]
    devices = {device_label(d.get("device") or {}): d.get("device") or {} for d in doc["rows"]}
    lines += ["", "Devices:"] + [device_line(d) for d in devices.values()]
    lines += ["", "load s: the runner's own figure (executor_runner: program and method load; "
              "onnxruntime_perf_test: session creation plus the first inference; apps: model "
              "load). n: timed runs behind the percentiles (an app that reports only means "
              "leaves median and n empty). peak mem: the runner's maximum RSS (toybox "
              "`time -v`, or onnxruntime_perf_test's peak working set), or an app's own figure "
              "(minibench: PSS growth). The runners feed constant inputs, so a phone row has "
              "no accuracy: an artifact's accuracy is the host's (`skinedge eval`)."]
    prof = [d for d in doc["rows"] if (d.get("profile") or {}).get("median_ms_per_event")]
    for d in prof:
        top = list(d["profile"]["median_ms_per_event"].items())[:5]
        lines.append(f"- {d['name']} ETDump ({d.get('etdump')}): "
                     + ", ".join(f"{k} {v:.3f} ms" for k, v in top))
    return "\n".join(lines) + "\n"


def write(doc: dict, out: Path, prefix: str, files: dict[str, bytes] | None = None) -> list[Path]:
    """``PREFIX-<stamp>.json``, ``PREFIX-latest.json``, ``PREFIX-latest.md`` and ``files``
    under ``out``: each appears whole (a temporary name, then one rename), and a failed write
    renames none of those not yet in place."""
    stamp = doc["date"][:19].replace(":", "").replace("-", "")
    text = json.dumps(doc, indent=2)
    content: dict[str, str | bytes] = {f"{prefix}-{stamp}.json": text,
                                       f"{prefix}-latest.json": text,
                                       f"{prefix}-latest.md": markdown(doc), **(files or {})}
    with contextlib.ExitStack() as stack:
        for name, data in content.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            tmp = stack.enter_context(replacing(out / name))
            tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    return [out / n for n in content]
