"""``skinedge inspect``: what a checkpoint or artifact is, read from its card and its file,
with the integrity (card + weights/graph sha256) and structure checks an app would rely on.
Every line is printed through ``card.printable``: text from the file cannot forge a line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..card import ModelCard, printable
from ..errors import CheckpointError
from . import get_target, target_for_path


@dataclass(frozen=True)
class Inspection:
    path: Path
    target: str
    card: ModelCard
    sha256_problem: str  # "" when the card's integrity hash (or an old card's sha256) matches
    structure: dict
    problems: tuple[str, ...]  # from the target's verify_structure, the sha256 one left out

    @property
    def ok(self) -> bool:
        return not self.sha256_problem and not self.problems


def inspect_artifact(path: str | Path) -> Inspection:
    path = Path(path)
    t = target_for_path(path)
    module = t.load_module()
    try:
        card, sha_problem = module.read_card(path), ""
    except CheckpointError as exc:  # show the card anyway, with the verdict
        card, sha_problem = module.read_card(path, verify=False), str(exc)
    problems = tuple(p for p in module.verify_structure(path) if p != sha_problem)
    return Inspection(path, t.name, card, sha_problem, module.structure(path), problems)


def _verdict(c: ModelCard) -> str:
    if c.integrity_sha256:
        return (f"ok: integrity {c.integrity_sha256[:16]}... covers the card (labels, "
                "preprocessing, quantization) and the weights/graph")
    return ("ok as far as an old card goes: written before integrity hashes, so the card "
            "itself is not covered; export it again")


def _metrics_lines(card: ModelCard) -> list[str]:
    lines = []
    for split, m in card.metrics.items():
        if not isinstance(m, dict) or "balanced_accuracy" not in m:
            continue
        mel = m.get("per_class", {}).get("mel", {}).get("recall")
        lines.append(f"{split}: balanced accuracy {m['balanced_accuracy']:.4f}, macro-F1 "
                     f"{m.get('macro_f1', float('nan')):.4f}"
                     + (f", melanoma recall {mel:.3f}" if mel is not None else "")
                     + f", n={m.get('n', '?')}")
    return lines or ["none recorded"]


def _block(label: str, lines: list[str]) -> list[str]:
    return [f"  {label:14}{lines[0]}"] + [f"  {'':14}{ln}" for ln in lines[1:]]


def _trust_lines(c) -> list[str]:
    """Calibration, referral thresholds and input gate as the card states them."""
    cal, ref, g = c.calibration, c.referral, c.gate
    lines = [f"calibrated: temperature {cal['temperature']:.4f}, prior correction to "
             f"{', '.join(f'{k} {v:.3f}' for k, v in cal.get('prevalence', {}).items())}"
             if cal else "uncalibrated: probabilities are the model's own softmax "
             "(fit with `skinedge calibrate`)"]
    for task, t in (ref or {}).get("tasks", {}).items():
        lines.append(f"refer ({task}: {'+'.join(t['labels'])}) at p >= {t['threshold']:.4f} "
                     f"(validation sensitivity {t.get('val_sensitivity', float('nan')):.3f}, "
                     f"target {ref.get('target_sensitivity', float('nan')):g})")
    lines.append(f"input gate: min side {g['min_side']} px, luminance {g['luminance']}, "
                 f"sharpness >= {g['sharpness_min']}, OOD score <= {g['ood']['threshold']}"
                 if g else "no input gate")
    return lines


def format_inspection(i: Inspection) -> str:
    c = i.card
    fmt3 = lambda v: " ".join(f"{x:.4f}" for x in v)  # noqa: E731
    t = c.training
    source = "" if get_target(i.target).reference else " (of the checkpoint it was exported from)"
    out = [f"{i.path.name}  [{i.target} target, quantization {c.quantization}]"]
    out += _block("sha256", [f"FAILED: {i.sha256_problem}" if i.sha256_problem else _verdict(c)])
    out += _block("architecture", [f"{c.architecture}: {c.params / 1e6:.2f} M parameters, "
                                   f"{c.flops / 1e6:.1f} MFLOP ({c.macs / 1e6:.1f} M MACs) per image"])
    out += _block("input", [f"{c.input_size}x{c.input_size} {c.color_order}, {c.layout}, values in "
                            f"[{c.value_range[0]:g}, {c.value_range[1]:g}]; resize {c.resize} ({c.interpolation})",
                            f"normalisation {c.normalization}: mean {fmt3(c.mean)}, std {fmt3(c.std)}"])
    out += _block("labels", [f"{code:6} {name}" for code, name in zip(c.labels, c.label_names)])
    out += _block("weights", [f"stored as {c.weights_dtype}{source}"])
    out += _block("validation", [f"metrics at training time{source}:", *_metrics_lines(c)])
    if t:
        out += _block("training", [f"{t.get('data', '?')}: {t.get('n_train', '?')} train / "
                                   f"{t.get('n_val', '?')} val / {t.get('n_test', '?')} test images, "
                                   f"split seed {t.get('split_seed', '?')}"])
    out += _block("trust", _trust_lines(c))
    iu = c.intended_use
    out += _block("intended use", [*iu["summary"].split("\n"), *(
        f"- {x}" for lim in iu.get("limitations", []) for x in lim.split("\n"))]
                  if iu else ["not stated in this card"])
    out += _block("software", [", ".join(f"{k} {v}" for k, v in c.software.items())])
    out += _block("structure", [f"{k}: {v}" for k, v in i.structure.items()])
    out += _block("check", list(i.problems) or ["structure as the card says"])
    return "\n".join(printable(line) for line in out)  # card and file text, shown literally
