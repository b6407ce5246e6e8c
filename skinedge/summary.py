"""The Markdown summary of a pipeline run: one page with every stage's figures and plots."""
from __future__ import annotations

import json
from pathlib import Path

from .atomic import write_text

PICTURES = (("MAE reconstructions (val images: image / visible 25% / reconstruction)",
             "pretrain/reconstructions.png"), ("MAE loss", "pretrain/training_curves.png"),
            ("Teacher training", "teacher/training_curves.png"),
            ("Student training", "student/training_curves.png"),
            ("Student test confusion matrix", "confusion_student.png"))


def _read(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _model_rows(root: Path) -> list[str]:
    rows = ["| model | architecture | test balanced acc | macro-F1 | AUC (ovr) | mel recall | n |",
            "|---|---|---|---|---|---|---|"]
    ev = _read(root / "eval.json") or {}
    for name in ("teacher", "student"):
        m = ev.get(name) or (_read(root / name / "metrics.json") or {}).get("test")
        card = _read(root / name / "best" / "card.json") or {}
        if m:
            rows.append(f"| {name} | {card.get('architecture', '?')} @ {card.get('input_size')}px"
                        f" | {m['balanced_accuracy']:.4f} | {m['macro_f1']:.4f} | "
                        f"{m['auc_ovr']:.4f} | {m['per_class']['mel']['recall']:.3f} | {m['n']} |")
    return rows


def _pretrain_line(root: Path) -> list[str]:
    state = _read(root / "pretrain" / "last" / "trainer_state.json")
    if not state or not state["history"]:
        return []
    h = state["history"]
    return [f"MAE pre-training: {len(h)} epochs, val masked-patch loss {h[0]['val_loss']:.4f} "
            f"(epoch 1) -> {state['best']:.4f} (best).", ""]


def write_summary(root: Path, synthetic: tuple[str, tuple[str, ...]] | None = None) -> Path:
    """RUN/summary.md; ``synthetic``: the --synthetic choice and the stages it fed."""
    root = Path(root)
    cfg = _read(root / "pipeline.json") or {}
    lines = [f"# skinedge pipeline: preset `{cfg.get('preset')}`", "",
             f"Data: `{cfg.get('data')}`, seed {cfg.get('seed')}. Test split: lesion-disjoint "
             "(same split for every stage).", ""]
    syn = _read(root / "synthetic" / "synth_manifest.json")
    if syn:
        used = (f", used by: {', '.join(synthetic[1]) or 'no stage'} (`--synthetic "
                f"{synthetic[0]}`)" if synthetic else "")
        lines += [f"Synthetic images: {sum(syn.get('counts', {}).values())} from model "
                  f"`{syn['model_sha256'][:12]}` (guidance {syn['guidance']}){used}.", ""]
    lines += _pretrain_line(root) + _model_rows(root) + [""]
    report = _read(root / "artifacts" / "export_report.json")
    if report:
        lines += ["## Exports (parity against the eager student)", "",
                  "| artifact | status | top-1 agreement | MB |", "|---|---|---|---|"]
        for r in report.get("results", []):
            agree = (r.get("parity") or {}).get("top1_agreement")
            lines.append(f"| {Path(r.get('path') or r['recipe']).name} | {r['status']} | "
                         f"{'-' if agree is None else f'{agree:.3f}'} | "
                         f"{(r.get('size_bytes') or 0) / 1e6:.2f} |")
        lines.append("")
    bench = root / "bench" / "latest.md"
    if bench.is_file():
        lines += ["## Benchmark", "", bench.read_text(), ""]
    for title, rel in PICTURES:
        if (root / rel).is_file():
            lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    path = root / "summary.md"
    write_text(path, "\n".join(lines))
    return path
