"""``skinedge bench --import FILE...``: benchmark JSON from the demo apps' benchmark screens (web
demo in a phone's browser, Android app, iOS app) or from other ``skinedge bench`` runs, checked
against schema ``skinedge.bench/2`` and merged into one table.

What an app must write (benchmarks/README.md): ``{"schema": "skinedge.bench/2", "date", "device"
or "host", "rows": [{"name", "target", "quantization", "status", "latency_ms": {"1": {"n",
"median", ...}}, ...}]}``. Everything else a host run writes is optional here.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

from ..errors import DataError
from .report import SCHEMA

STATUSES = ("ok", "failed", "skipped")
STAT_KEYS = ("n", "median", "p90", "p99", "trimmed_mean", "min", "mean")
OPTIONAL_NUMBERS = ("load_s", "peak_rss_mb", "size_bytes", "params", "flops", "macs")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _device_of(doc: dict, row: dict, platform: str | None) -> dict:
    """rows[].device, else the document's device, else its host: a phone app that files the
    phone under host (the Android demo: device, cpu = SoC, os, machine = ABI), or a host run."""
    for d in (row.get("device"), doc.get("device")):
        if isinstance(d, dict) and d:
            return d
    host = doc.get("host") if isinstance(doc.get("host"), dict) else {}
    os_name = str(host.get("os") or "")
    guessed = next((p for p in ("android", "ios") if os_name.lower().startswith(p)), None)
    if host.get("device"):
        return {"platform": guessed or platform or "unknown", "model": str(host["device"]),
                "soc": host.get("cpu") or "", "os": os_name, "abi": host.get("machine") or "",
                "cores": host.get("cores")}
    return {"platform": guessed or platform or "host", "model": host.get("cpu") or "unknown",
            "os": os_name, "abi": host.get("machine") or "", "cores": host.get("cores")}


def _check_row(row, i: int, where: str) -> list[str]:
    """Problems of rows[i], each naming the field."""
    if not isinstance(row, dict):
        return [f"rows[{i}] is {type(row).__name__}, not an object"]
    p = []
    if not isinstance(row.get("name"), str) or not row.get("name"):
        p.append(f"rows[{i}].name must be a non-empty string")
    if row.get("status") not in STATUSES:
        p.append(f"rows[{i}].status must be one of {', '.join(STATUSES)}, not {row.get('status')!r}")
    lat = row.get("latency_ms")
    if not isinstance(lat, dict):
        p.append(f"rows[{i}].latency_ms must be an object of batch size -> statistics")
        return p
    for b, s in lat.items():
        if not str(b).isdigit() or int(b) < 1:
            p.append(f"rows[{i}].latency_ms: batch size {b!r} is not a positive integer")
        elif not isinstance(s, dict):
            p.append(f"rows[{i}].latency_ms[{b!r}] must be an object")
        else:
            p += [f"rows[{i}].latency_ms[{b!r}].{k} must be a finite number >= 0, not {s[k]!r}"
                  for k in STAT_KEYS if s.get(k) is not None and not _number(s[k])]
    if row.get("status") == "ok" and not any(
            isinstance(s, dict) and any(_number(s.get(k)) for k in ("median", "trimmed_mean", "mean"))
            for s in lat.values()):
        p.append(f"rows[{i}] is ok but has no latency (latency_ms[batch].median)")
    p += [f"rows[{i}].{k} must be a number >= 0 or null, not {row[k]!r}"
          for k in OPTIONAL_NUMBERS if row.get(k) is not None and not _number(row[k])]
    return p


def rows_of(doc, where: str, platform: str | None = None) -> list[dict]:
    """The rows of a ``skinedge.bench/2`` document, checked and filled to the host row's keys;
    a DataError naming ``where`` and the first problems otherwise."""
    if not isinstance(doc, dict):
        raise DataError(f"{where}: a benchmark JSON document is an object, not "
                        f"{type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        raise DataError(f"{where}: schema is {doc.get('schema')!r}, expected {SCHEMA!r} "
                        "(see benchmarks/README.md for the layout apps must write)")
    rows = doc.get("rows")
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{where}: 'rows' must be a non-empty list")
    problems = [q for i, r in enumerate(rows) for q in _check_row(r, i, where)]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DataError(f"{where}: " + "; ".join(problems[:3]) + more)
    return [_filled(doc, r, platform) for r in rows]


def _filled(doc: dict, row: dict, platform: str | None) -> dict:
    out = {"kind": "artifact", "target": "?", "quantization": "?", "path": "", "role": "candidate",
           "error": "", "pids": [], "accuracy": None, "accuracy_error": "", "load_s": None,
           "peak_rss_mb": None, "ratios": {}, **row}
    out["error"] = out["error"] or ""
    out["throughput_img_s"] = {b: int(b) / (s["median"] / 1e3) for b, s in out["latency_ms"].items()
                               if _number(s.get("median")) and s["median"] > 0}
    out["device"] = _device_of(doc, row, platform)
    return out


def read_doc(path: Path) -> dict:
    """One file as a JSON document; a DataError naming it when it cannot be one."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; expected benchmark JSON ({SCHEMA})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected benchmark JSON ({SCHEMA})") from None


def import_docs(paths: list[str], host: dict, platform: str | None = None) -> dict:
    """One document with the rows of every file, each row keeping its device and source file
    (``platform``: what to call a device a file does not place). Every file is checked before
    anything is merged."""
    if not paths:
        raise DataError("--import needs the JSON files to merge, e.g. skinedge bench --import "
                        "phone.json")
    rows, sources = [], []
    for p in map(Path, paths):
        doc = read_doc(p)
        for r in rows_of(doc, str(p), platform):
            r["source"] = p.name
            rows.append(r)
        sources.append({"file": str(p), "date": doc.get("date"), "rows": len(doc["rows"])})
    return {"schema": SCHEMA, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": host, "batches": [1], "imported": sources, "rows": rows, "exports": []}
