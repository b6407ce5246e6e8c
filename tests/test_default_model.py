"""The model that ships in the package: what `skinedge eval/export/predict` use by default."""
import csv
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import DEV_DATA
from safetensors.torch import load_file

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.checkpoint import load_checkpoint
from skinedge.models.classifier import count_flops

# The dx codes of HAM10000 (Tschandl et al. 2018) in the dataset's alphabetical order.
HAM10000_ORDER = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _card(default_model) -> dict:
    return json.loads((default_model / "card.json").read_text())


def _test_rows(data, default_model, classes=None) -> list[tuple]:
    """(image path, dx) of the images the shipped split.json puts on the test side."""
    assignment = json.loads((default_model / "split.json").read_text())["assignment"]
    with open(data / "HAM10000_metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = {p.stem: p for p in (data / "images").iterdir()}
    return [(images[r["image_id"]], r["dx"]) for r in rows
            if assignment[r["image_id"]] == "test" and (classes is None or r["dx"] in classes)]


def _confusion(default_model, rows) -> np.ndarray:
    preds = skinedge.load(default_model).predict([p for p, _ in rows])
    cm = np.zeros((7, 7), dtype=int)
    for (_, dx), p in zip(rows, preds):
        cm[HAM10000_ORDER.index(dx), HAM10000_ORDER.index(p.label)] += 1
    return cm


def test_the_cards_claims_hold_for_the_shipped_weights(default_model):
    card = _card(default_model)
    weights = default_model / "model.safetensors"
    assert weights.stat().st_size < 10 * 1024 * 1024
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == card["artifact_sha256"]
    tensors = load_file(str(weights))
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    # params: every weight in the file but the batch-norm statistics and the in-graph
    # normalization, which must be the card's mean/std (the apps read those from the card).
    assert sum(t.numel() for k, t in tensors.items()
               if not k.endswith(BN_BUFFERS) and k not in ("mean", "std")) == card["params"]
    for k in ("mean", "std"):
        assert tensors[k].flatten().float().tolist() == pytest.approx(card[k], abs=1e-3)
    assert card["labels"] == HAM10000_ORDER
    model, _ = load_checkpoint(default_model)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 128, 128)).shape == (1, len(HAM10000_ORDER))
    # The card's FLOPs were counted at its input size, not at another one.
    assert card["input_size"] == 128 and count_flops(model, 128) == card["flops"]
    assert count_flops(model, 96) != card["flops"]


def test_eval_on_the_samples_test_images_matches_an_independent_count(default_model):
    from skinedge.evaluate import evaluate

    rows = _test_rows(SAMPLE_DATA, default_model)
    cm = _confusion(default_model, rows)
    m = evaluate(None, SAMPLE_DATA, "test", progress=False)
    assert m["n"] == len(rows) == cm.sum() > 200
    assert np.array_equal(m["confusion_matrix"], cm)
    recall = np.diag(cm) / cm.sum(1)
    assert m["balanced_accuracy"] == pytest.approx(recall[cm.sum(1) > 0].mean())
    assert m["per_class"]["mel"]["recall"] == pytest.approx(recall[4])
    # Never trained on, and well above chance (1/7) for 7 classes.
    assert m["balanced_accuracy"] > 0.4
    # The sample's test images are part of the model's test split: each of its confusion
    # cells can be at most the card's (measured on the whole split).
    assert (cm <= np.array(_card(default_model)["metrics"]["test"]["confusion_matrix"])).all()


# Classes re-scored on the development data: the card's rows for these are checked against
# the shipped weights (nv, the largest row, is left out to keep this in seconds).
RESCORED = ("akiec", "bcc", "df", "mel", "vasc")


def test_the_cards_test_metrics_are_reproduced_on_the_development_data(default_model):
    if not DEV_DATA.is_dir():
        pytest.skip("development data not present")
    test = _card(default_model)["metrics"]["test"]
    claimed = np.array(test["confusion_matrix"])
    rows = _test_rows(DEV_DATA, default_model)
    assert test["n"] == len(rows) == claimed.sum()
    assert [sum(dx == c for _, dx in rows) for c in HAM10000_ORDER] == claimed.sum(1).tolist()
    cm = _confusion(default_model, [r for r in rows if r[1] in RESCORED])
    # Exact: the closest top-2 logit margin among these images is ~3e-3, far above float
    # reordering noise, while the fp32 weights' metrics differ from the fp16 ones in row mel.
    for c in RESCORED:
        k = HAM10000_ORDER.index(c)
        assert cm[k].tolist() == claimed[k].tolist(), c
    recall = np.diag(claimed) / claimed.sum(1)
    assert test["balanced_accuracy"] == pytest.approx(recall.mean())
    assert test["per_class"]["mel"]["recall"] == pytest.approx(recall[4])


def test_eval_without_model_uses_the_shipped_one(default_model, tmp_path):
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "eval", "--data", str(SAMPLE_DATA),
                        "--split", "all", "--json", "--plot", str(tmp_path / "cm.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    for key in ("n", "accuracy", "balanced_accuracy", "macro_f1", "auc_ovr", "per_class"):
        assert key in m
    assert set(m["per_class"]) == set(skinedge.CLASSES)
    assert {"recall", "precision", "f1", "support"} <= set(m["per_class"]["mel"])
    assert m["n"] == len(list((SAMPLE_DATA / "images").iterdir()))
    assert (tmp_path / "cm.png").is_file()


def test_predict_without_model(default_model):
    img = sorted((SAMPLE_DATA / "images").iterdir())[0]
    p = skinedge.load().predict(img)
    assert p.label in skinedge.CLASSES
