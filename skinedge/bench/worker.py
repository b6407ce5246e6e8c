"""Measure one runtime in its own process (so none can warm or starve another).

    python -m skinedge.bench.worker '<json spec>'

spec: {"kind": "artifact" | "compile", "path", "batches": [1, 8], "warmup", "runs", "threads",
"data": null | folder, "split"}. Prints one JSON line: load_s, latencies_ms per batch,
peak_rss_mb (after timing, before accuracy), and balanced accuracy on ``split`` of ``data``
(or accuracy_error saying why there is none).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import SkinedgeError


def peak_rss_mb() -> float:
    """High-water resident memory of this process. VmHWM starts afresh at exec, unlike
    getrusage's ru_maxrss, which Linux carries over from the forking parent."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Compiled:
    """A checkpoint on the eager runtime, under torch.compile (inductor, CPU), as a baseline."""

    name = "torch.compile"

    def __init__(self, path: str, threads: int | None = None):
        import torch

        from ..targets import target_for_path

        eager = target_for_path(path).load_module().Runtime(path, threads=threads)
        self.card = eager.card
        self.fn = torch.compile(eager.model, dynamic=False)
        self.torch = torch

    def run(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.fn(self.torch.from_numpy(x)).numpy()


def _runtime(spec: dict):
    from ..api import Classifier
    from ..targets import target_for_path

    path, threads = spec["path"], int(spec.get("threads") or 1)
    if spec["kind"] == "compile":
        rt = _Compiled(path, threads)
    else:
        rt = target_for_path(path).load_module().Runtime(path, threads=threads)
    return rt, Classifier(rt, Path(path))


def _accuracy(spec: dict, clf) -> dict:
    from ..data import read_ham10000
    from ..data.cache import cached_images
    from ..evaluate import select_split
    from ..metrics import classification_metrics

    ds = select_split(clf.path, clf.card, read_ham10000(spec["data"], require_all_classes=False),
                      spec["split"])
    probs = clf.predict_batch_array(cached_images(ds.records, clf.card.input_size, progress=False))
    m = classification_metrics(np.asarray(ds.labels), probs, clf.labels)
    return {"n": m["n"], "balanced_accuracy": m["balanced_accuracy"],
            "macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}


def measure(spec: dict) -> dict:
    t0 = time.perf_counter()
    rt, clf = _runtime(spec)
    size = clf.card.input_size
    rng = np.random.default_rng(0)
    out = {"load_s": 0.0, "latencies_ms": {}}
    for b in spec["batches"]:
        x = rng.random((b, 3, size, size), dtype=np.float32)
        rt.run(x)  # first call: lazy init, compilation
        if b == spec["batches"][0]:
            out["load_s"] = time.perf_counter() - t0
        for _ in range(spec["warmup"]):
            rt.run(x)
        times = []
        for _ in range(spec["runs"]):
            t = time.perf_counter()
            rt.run(x)
            times.append((time.perf_counter() - t) * 1e3)
        out["latencies_ms"][str(b)] = times
    out["peak_rss_mb"] = peak_rss_mb()
    out["pid"] = os.getpid()
    if spec.get("data"):
        try:
            out["accuracy"] = _accuracy(spec, clf)
        except SkinedgeError as exc:  # e.g. data the model's split does not cover
            out["accuracy_error"] = str(exc)
    return out


def main() -> int:
    spec = json.loads(sys.argv[1])
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        result = {"ok": True, **measure(spec)}
    except Exception as exc:  # reported as a failed row by the parent, never a crash there
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    print("BENCH_RESULT " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
