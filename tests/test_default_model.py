"""The model that ships in the package: what `skinedge eval/export/predict` use by default."""
import json
import subprocess
import sys


import skinedge
from skinedge.api import SAMPLE_DATA


def test_default_model_is_small_fp16_safetensors(default_model):
    weights = default_model / "model.safetensors"
    assert weights.stat().st_size < 10 * 1024 * 1024
    card = json.loads((default_model / "card.json").read_text())
    assert card["weights_dtype"] == "float16"
    assert card["labels"] == list(skinedge.CLASSES)
    assert card["metrics"]["test"]["balanced_accuracy"] >= 0.55


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


def test_default_model_beats_chance_on_its_held_out_sample_images(default_model):
    from skinedge.evaluate import evaluate
    m = evaluate(None, SAMPLE_DATA, "test", progress=False)
    # the sample's test images were never trained on; 7 classes -> chance is 1/7
    assert m["n"] > 200 and m["balanced_accuracy"] > 0.4


def test_predict_without_model(default_model):
    img = sorted((SAMPLE_DATA / "images").iterdir())[0]
    p = skinedge.load().predict(img)
    assert p.label in skinedge.CLASSES
