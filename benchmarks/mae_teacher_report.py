"""Markdown table of the runs under a `benchmarks/mae_teacher.sh` folder: per run the best
validation balanced accuracy (the selection criterion) and its test figures; per arm the mean
over seeds. Usage: python benchmarks/mae_teacher_report.py RUN"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def rows(root: Path) -> list[dict]:
    out = []
    for m in sorted(root.glob("*/metrics.json")):
        doc = json.loads(m.read_text())
        t, v = doc["test"], doc["val"]
        out.append({"run": m.parent.name, "arm": re.sub(r"_s\d+$", "", m.parent.name),
                    "epochs": len(doc["history"]), "val_bal": v["balanced_accuracy"],
                    "test_bal": t["balanced_accuracy"], "f1": t["macro_f1"], "auc": t["auc_ovr"],
                    "mel": t["per_class"]["mel"]["recall"], "n": t["n"]})
    return out


def main(root: Path) -> None:
    rs = rows(root)
    print("| run | epochs | val bal-acc (best) | test bal-acc | macro-F1 | AUC | mel recall | n |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rs:
        print(f"| {r['run']} | {r['epochs']} | {r['val_bal']:.4f} | {r['test_bal']:.4f} | "
              f"{r['f1']:.4f} | {r['auc']:.4f} | {r['mel']:.3f} | {r['n']} |")
    arms = sorted({r["arm"] for r in rs})
    print("\n| arm | seeds | mean val bal-acc | mean test bal-acc | mean mel recall |")
    print("|---|---|---|---|---|")
    for a in arms:
        sel = [r for r in rs if r["arm"] == a]
        mean = lambda k: sum(r[k] for r in sel) / len(sel)  # noqa: E731
        print(f"| {a} | {len(sel)} | {mean('val_bal'):.4f} | {mean('test_bal'):.4f} | "
              f"{mean('mel'):.3f} |")
    pre = root / "pretrain" / "last" / "trainer_state.json"
    if pre.is_file():
        st = json.loads(pre.read_text())
        print(f"\nMAE: {st['epoch']} epochs, best val masked-patch loss {st['best']:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
