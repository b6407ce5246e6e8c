"""``skinedge calibrate``: fit a checkpoint's trust fields on its validation split.

    skinedge calibrate MODEL --data HAM10000_FOLDER [--out NEW_FOLDER] [--sensitivity 0.95]

Writes the card's ``calibration`` (temperature + prior correction, calibration.py),
``referral`` (malignant and melanoma thresholds for the target sensitivity, clinical.py),
``gate`` (input-usability thresholds, gate.py) and, when empty, ``intended_use``. The
weights and every other file and folder are copied byte for byte; the card is re-sealed (a new
integrity hash over card + weights) and the folder swapped in whole. An existing --out is
replaced only when it is a sealed checkpoint holding nothing the copy would not replace; a
symbolic link is followed. A validation split with a class missing or thin is warned about.
Export the calibrated checkpoint: every artifact embeds its card, so each runtime applies the
same fields.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config, option
from .layout import DEFAULT_MODEL

# Fewer validation images of a class than this, and the fitted temperature, thresholds and
# gate rest on too few of them to trust: calibrate says so (it still writes the card).
MIN_PER_CLASS = 20


@dataclass(frozen=True)
class CalibrateOptions(Config):
    data: str | None = option(None, "HAM10000-layout folder the model was trained on (its "
                              "validation split is used)", default_text="required")
    out: str | None = option(None, "folder for the calibrated checkpoint",
                             default_text="replace MODEL in place (weights unchanged)")
    sensitivity: float = option(0.95, "target sensitivity of the referral thresholds, "
                                "chosen on the validation split", above=0.0, below=1.0)
    prevalence: str | None = option(None, "class prevalence the probabilities should describe, "
                                    "e.g. akiec=0.03,bcc=0.05,... (every label)",
                                    default_text="the training data's class frequencies")
    no_prior: bool = option(False, "temperature scaling only (no prior correction)")
    json: bool = option(False, "print the fitted fields as JSON")


def _prevalence(text: str | None) -> dict[str, float] | None:
    from .errors import ConfigError

    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--prevalence {text!r}: write LABEL=SHARE,... "
                              f"(e.g. mel=0.1), not {part!r}") from None
    return out


def _validation(clf, data: Path, progress: bool):
    """(model images uint8 [N, S, S, 3], class indices [N] in the model's label order)."""
    import numpy as np

    from .data import read_ham10000
    from .data.cache import cached_images
    from .errors import ConfigError, DataError
    from .evaluate import select_split

    try:
        ds = select_split(clf.path, clf.card, read_ham10000(data, require_all_classes=False),
                          "val", every="the data the model was trained on")
    except DataError as exc:
        raise DataError(f"calibration needs the model's validation split: {exc}") from None
    unknown = sorted({r.dx for r in ds.records} - set(clf.labels))
    if unknown:
        raise ConfigError(f"{data}: classes {', '.join(unknown)} are not among the model's labels")
    y = np.array([clf.labels.index(r.dx) for r in ds.records])
    return np.asarray(cached_images(ds.records, clf.card.input_size, progress=progress)), y


def fit_trust_fields(clf, images, y, sensitivity: float = 0.95, prevalence=None,
                     prior_correction: bool = True) -> dict:
    """calibration, referral, gate and intended_use fitted on validation images/classes."""
    import numpy as np

    from .calibration import apply_card, ece, fit_calibration
    from .clinical import intended_use, referral_field
    from .gate import fit_gate

    card = clf.card
    with np.errstate(divide="ignore"):
        z = np.log(clf.predict_batch_array(images))
    cal = fit_calibration(z, y, card.labels, card.training, prevalence, prior_correction)
    probs = apply_card(z, cal)
    cal["val_ece_before"], cal["val_ece_after"] = (round(ece(np.exp(z), y), 6),
                                                   round(ece(probs, y), 6))
    return {"calibration": cal, "referral": referral_field(probs, y, card.labels, sensitivity),
            "gate": fit_gate(images, min_side=card.input_size),
            "intended_use": card.intended_use or intended_use(card.training, card.labels)}


def calibrate_checkpoint(model: str | Path | None, data: str | Path, out: str | Path | None = None,
                         sensitivity: float = 0.95, prevalence: dict | None = None,
                         prior_correction: bool = True, progress: bool = True) -> dict:
    """Fit the trust fields on ``model``'s validation split and write the checkpoint to ``out``
    (default: in place); returns the fields written. Warns on stderr when the split is thin
    or the fit makes the validation ECE worse."""
    from .api import load
    from .errors import ConfigError

    if not 0 < sensitivity < 1:
        raise ConfigError(f"target sensitivity {sensitivity:g}: must be between 0 and 1 (exclusive)")
    src = Path(os.path.realpath(model)) if model is not None else DEFAULT_MODEL
    if not (src / "card.json").is_file():
        raise ConfigError(f"{src}: calibrate a checkpoint folder (with card.json), then export "
                          "it: an artifact's card is sealed inside it")
    dest = Path(os.path.realpath(out)) if out else src
    check_replaceable(src, dest)
    clf = load(src)
    images, y = _validation(clf, Path(data), progress)
    fields = fit_trust_fields(clf, images, y, sensitivity, prevalence, prior_correction)
    cal = fields["calibration"]
    for problem in (_thin_split(clf.labels, y), _worse_ece(cal)):
        if problem:
            print(f"skinedge calibrate: warning: {problem}", file=sys.stderr, flush=True)
    write_checkpoint_card(src, dest, clf.card.with_(**fields))
    return fields


def check_replaceable(src: Path, dest: Path) -> None:
    """Refuse, before any work, a ``dest`` that is not ``src`` and that calibrate cannot prove
    is a checkpoint it may replace: a folder with a sealed card whose hash checks, holding
    nothing that the copy of ``src`` would not replace (so nothing else is deleted)."""
    from .checkpoint import read_card, verify_checkpoint
    from .errors import CheckpointError, ConfigError

    if dest == src or not os.path.lexists(dest):
        return
    if not dest.is_dir():
        raise ConfigError(f"{dest}: exists and is not a folder; --out names a new folder or a "
                          "checkpoint to replace")
    try:
        card = read_card(dest)
        if not card.integrity_sha256:
            raise CheckpointError("its card.json has no integrity hash")
        verify_checkpoint(dest, card)
    except CheckpointError as exc:
        raise ConfigError(f"{dest}: exists and is not a sealed skinedge checkpoint ({exc}); "
                          "--out replaces only a checkpoint, never other files: choose a new "
                          "folder") from None
    extra = sorted({p.name for p in dest.iterdir()} - {p.name for p in src.iterdir()})
    if extra:
        raise ConfigError(f"{dest}: holds {', '.join(extra[:5])}"
                          f"{f' and {len(extra) - 5} more' if len(extra) > 5 else ''} beside "
                          "the checkpoint, which replacing it would delete; move them away or "
                          "choose a new --out")


def _thin_split(labels, y) -> str:
    """Why the validation classes ``y`` are too few to fit on with confidence ("" if not)."""
    import numpy as np

    counts = np.bincount(y, minlength=len(labels))
    missing = [c for c, n in zip(labels, counts) if n == 0]
    few = [c for c, n in zip(labels, counts) if 0 < n < MIN_PER_CLASS]
    parts = ([f"no {', '.join(missing)} image"] if missing else []) + (
        [f"fewer than {MIN_PER_CLASS} validation images of {', '.join(few)}"] if few else [])
    if not parts:
        return ""
    return (f"the validation split holds {len(y)} images, {' and '.join(parts)}: the "
            "temperature, referral thresholds and gate fitted on it are rough; check them on "
            "the test split (`skinedge eval --split test`) before relying on them")


def _worse_ece(cal: dict) -> str:
    before, after = cal["val_ece_before"], cal["val_ece_after"]
    if after <= before:
        return ""
    return (f"the fitted calibration raised the validation ECE from {before:.4f} to "
            f"{after:.4f}: its probabilities fit this split worse than the model's own")


def write_checkpoint_card(src: Path, dest: Path, card) -> None:
    """Copy the checkpoint ``src`` to ``dest`` (may be the same folder) with ``card``, sealed;
    every other file and folder is copied unchanged (symbolic links as links). Checked by
    loading it back."""
    from .atomic import write_folder
    from .card import PLACEHOLDER, seal
    from .checkpoint import CARD, SEALED, read_card, verify_checkpoint

    def write(tmp: Path) -> None:
        for f in sorted(src.iterdir()):
            if f.name == CARD:
                continue
            if f.is_symlink():
                os.symlink(os.readlink(f), tmp / f.name)
            elif f.is_dir():
                shutil.copytree(f, tmp / f.name, symlinks=True)
            else:
                shutil.copyfile(f, tmp / f.name)
        card.with_(integrity_sha256=PLACEHOLDER).save(tmp / CARD)
        seal(tmp, SEALED, holders=(CARD,))
        verify_checkpoint(tmp, read_card(tmp))

    write_folder(dest, write)


def add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="fit calibration, referral threshold and input gate",
                       description=__doc__.split("\n\n")[2].replace("\n", " ")
                       .replace("``", ""))
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder (default: the shipped model)")
    CalibrateOptions.add_arguments(p)
    p.set_defaults(func=_run_calibrate)


def _run_calibrate(a) -> int:
    from .errors import ConfigError

    o = CalibrateOptions.from_args(a)
    if not o.data:
        raise ConfigError("--data is required: the HAM10000 folder the model was trained on")
    f = calibrate_checkpoint(a.model, o.data, o.out, o.sensitivity, _prevalence(o.prevalence),
                             not o.no_prior, progress=not o.json)
    if o.json:
        print(json.dumps(f, indent=2))
        return 0
    c, r = f["calibration"], f["referral"]
    print(f"wrote {o.out or a.model or DEFAULT_MODEL}: temperature {c['temperature']:.4f}, "
          f"validation ECE {c['val_ece_before']:.4f} -> {c['val_ece_after']:.4f} "
          f"(n={c['fitted_on']['n']})", file=sys.stdout)
    for task, t in r["tasks"].items():
        print(f"  {task}: refer at p >= {t['threshold']:.4f} (validation sensitivity "
              f"{t['val_sensitivity']:.3f}, specificity {t['val_specificity']:.3f})")
    g = f["gate"]
    print(f"  gate: min side {g['min_side']} px, luminance {g['luminance']}, sharpness >= "
          f"{g['sharpness_min']}, OOD score <= {g['ood']['threshold']}")
    return 0
