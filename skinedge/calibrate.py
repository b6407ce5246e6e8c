"""``skinedge calibrate``: fit a checkpoint's trust fields on its validation split.

    skinedge calibrate MODEL --data HAM10000_FOLDER [--out NEW_FOLDER] [--sensitivity 0.95]

Writes the card's ``calibration`` (temperature + prior correction, calibration.py),
``referral`` (malignant and melanoma thresholds for the target sensitivity, clinical.py),
``gate`` (input-usability thresholds, gate.py) and, when empty, ``intended_use``. The
weights and every other file are copied byte for byte; the card is re-sealed (a new integrity
hash over card + weights) and the folder swapped in whole. Export the calibrated checkpoint:
every artifact embeds its card, so each runtime applies the same fields.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config, option
from .layout import DEFAULT_MODEL


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
    (default: in place); returns the fields written."""
    from .api import load
    from .errors import ConfigError

    if not 0 < sensitivity < 1:
        raise ConfigError(f"target sensitivity {sensitivity:g}: must be between 0 and 1 (exclusive)")
    src = Path(model) if model is not None else DEFAULT_MODEL
    if not (src / "card.json").is_file():
        raise ConfigError(f"{src}: calibrate a checkpoint folder (with card.json), then export "
                          "it: an artifact's card is sealed inside it")
    dest = Path(out) if out else src
    if dest.exists() and dest.resolve() != src.resolve() and not (dest / "card.json").is_file():
        raise ConfigError(f"{dest}: exists and is not a checkpoint folder; --out names a new "
                          "folder or a checkpoint to replace")
    clf = load(src)
    images, y = _validation(clf, Path(data), progress)
    fields = fit_trust_fields(clf, images, y, sensitivity, prevalence, prior_correction)
    write_checkpoint_card(src, dest, clf.card.with_(**fields))
    return fields


def write_checkpoint_card(src: Path, dest: Path, card) -> None:
    """Copy the checkpoint ``src`` to ``dest`` (may be the same folder) with ``card``, sealed;
    the weights' bytes are copied unchanged. Checked by loading it back."""
    from .atomic import write_folder
    from .card import PLACEHOLDER, seal
    from .checkpoint import CARD, SEALED, read_card, verify_checkpoint

    def write(tmp: Path) -> None:
        for f in sorted(src.iterdir()):
            if f.is_file() and f.name != CARD:
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
