"""Why the int8 .pte is (or is not) faster than fp32: XNNPACK delegation coverage and an
ETDump per-event profile read with ExecuTorch's Inspector.

    python benchmarks/profile_pte.py [--model CHECKPOINT] [--runs 50] [--out benchmarks/results]

Writes pte_profile.json and pte_profile.md: for fp32 and int8, how many graph nodes run
inside XNNPACK partitions and which op types fall outside them, and where run time goes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from skinedge.api import DEFAULT_MODEL, SAMPLE_DATA
from skinedge.checkpoint import load_checkpoint
from skinedge.exporting import _split_images
from skinedge.preprocess import to_model_input
from skinedge.recipes import all_recipes
from skinedge.targets.executorch import lower


def delegation(edge) -> dict:
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    df = info.get_operator_delegation_dataframe()
    col = "occurrences_in_non_delegated_graphs"
    outside = {r["op_type"]: int(r[col]) for _, r in df.iterrows() if r[col] and r["op_type"] != "Total"}
    return {"delegated_subgraphs": info.num_delegated_subgraphs,
            "delegated_nodes": info.num_delegated_nodes,
            "non_delegated_nodes": info.num_non_delegated_nodes, "outside_xnnpack": outside}


def profile(pte: Path, etrecord: Path, size: int, runs: int) -> dict:
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    module = _load_for_executorch(str(pte), enable_etdump=True)  # timing events only
    x = torch.rand(1, 3, size, size)
    for _ in range(runs):
        module.forward([x])
    etdump = pte.with_suffix(".etdp")
    module.write_etdump_result_to_file(str(etdump))
    inspector = Inspector(etdump_path=str(etdump), etrecord=str(etrecord))
    totals: Counter = Counter()
    for block in inspector.event_blocks:
        for ev in block.events:
            if ev.perf_data is not None:
                totals[ev.name] += float(np.median(ev.perf_data.raw))
    return {"median_ms_per_event": {k: round(v, 4) for k, v in totals.most_common(15)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--data", default=str(SAMPLE_DATA))
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args()
    model, card = load_checkpoint(Path(a.model))
    recipes = all_recipes()
    imgs, _ = _split_images(Path(a.model), card, Path(a.data), "train", 128, seed=1)
    calib = to_model_input(imgs)
    report = {"model": a.model, "architecture": card.architecture, "input_size": card.input_size}
    with tempfile.TemporaryDirectory() as tmp:
        for quant in ("fp32", "int8"):
            r = recipes[f"executorch-{quant}"]
            edge, _ = lower(model, card, r, calib, f"profile_{quant}.pte", generate_etrecord=True)
            entry = delegation(edge)
            prog = edge.to_executorch()
            pte, etrecord = Path(tmp) / f"{quant}.pte", Path(tmp) / f"{quant}.etrecord"
            pte.write_bytes(prog.buffer)
            prog.get_etrecord().save(str(etrecord))
            try:
                entry.update(profile(pte, etrecord, card.input_size, a.runs))
            except Exception as exc:  # profiling support varies by build; delegation still reported
                entry["profile_error"] = f"{type(exc).__name__}: {exc}"[:300]
            report[quant] = entry
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pte_profile.json").write_text(json.dumps(report, indent=2))
    lines = [f"# .pte profile: {card.architecture} @ {card.input_size}px", ""]
    for quant in ("fp32", "int8"):
        e = report[quant]
        lines += [f"## {quant}", f"- XNNPACK subgraphs: {e['delegated_subgraphs']}, nodes inside: "
                  f"{e['delegated_nodes']}, outside: {e['non_delegated_nodes']} {e['outside_xnnpack']}"]
        for k, v in e.get("median_ms_per_event", {}).items():
            lines.append(f"- {k}: {v} ms")
        if "profile_error" in e:
            lines.append(f"- profile: {e['profile_error']}")
        lines.append("")
    (out / "pte_profile.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
