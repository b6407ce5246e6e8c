"""Calibration, referral operating points, lesion bootstrap, input gate and the card's trust
fields (issue 12)."""
import json

import numpy as np
import pytest
from PIL import Image

from skinedge.calibration import (apply_card, calibrated, check_calibration, ece,
                                  fit_calibration, fit_temperature, model_prior, nll,
                                  reliability, softmax)
from skinedge.clinical import (at_threshold, auroc, bootstrap, operating_points, partial_auc,
                               referral_field, sensitivity_at_specificity,
                               specificity_at_sensitivity, threshold_for_sensitivity)
from skinedge.errors import CheckpointError, ConfigError
from skinedge.labels import CLASSES

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _scores(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = rng.normal(0, 1, n) + 1.2 * y
    return y, (np.round(s, 1) if ties else s)


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_and_isic2024_partial_auc_match_scikit_learn(ties):
    y, s = _scores(ties=ties)
    assert auroc(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s))
    # ISIC 2024's scorer: flip labels and scores, sklearn's standardised pAUC at max_fpr 0.2,
    # then undo McClish's standardisation: the raw area, from 0 to 0.2.
    mf = 0.2
    scaled = sklearn_metrics.roc_auc_score(1 - y, -s, max_fpr=mf)
    isic = 0.5 * mf ** 2 + (mf - 0.5 * mf ** 2) / 0.5 * (scaled - 0.5)
    assert partial_auc(y, s) == pytest.approx(isic, abs=1e-9)
    assert 0 <= partial_auc(y, s) <= 0.2


def test_a_perfect_and_a_useless_score_bound_the_partial_auc():
    y = np.array([0] * 50 + [1] * 50, dtype=bool)
    assert partial_auc(y, y.astype(float)) == pytest.approx(0.2)
    assert partial_auc(y, -y.astype(float)) == pytest.approx(0.0)


def test_operating_points_against_the_roc_curve():
    y, s = _scores()
    fpr, tpr, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    eps = 1e-12  # 1 - 0.8 is 0.19999999999999996: a specificity of exactly 80% counts
    for spec in (0.8, 0.9, 0.95):
        assert sensitivity_at_specificity(y, s, spec) == pytest.approx(
            tpr[fpr <= 1 - spec + eps].max())
    assert specificity_at_sensitivity(y, s, 0.95) == pytest.approx(1 - fpr[tpr >= 0.95 - eps].min())
    ops = operating_points(y, s, threshold=0.0)
    assert set(ops) >= {"auroc", "sens_at_spec80", "sens_at_spec90", "sens_at_spec95",
                        "spec_at_sens95", "pauc_above_tpr80", "threshold_sensitivity"}


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 0.99])
def test_the_referral_threshold_is_the_highest_that_reaches_the_target(target):
    y, s = _scores(ties=True)
    t = threshold_for_sensitivity(y, s, target)
    assert at_threshold(y, s, t)["sensitivity"] >= target
    higher = np.unique(s[s > t])
    if len(higher):
        assert at_threshold(y, s, higher.min())["sensitivity"] < target


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1])
def test_a_target_sensitivity_outside_0_1_is_refused(bad):
    y, s = _scores()
    with pytest.raises(ConfigError, match="between 0 and 1"):
        threshold_for_sensitivity(y, s, bad)


def test_ece_and_reliability_bins():
    conf = np.array([0.05, 0.95, 0.95, 0.55, 0.55])
    ok = np.array([False, True, False, True, True])
    r = reliability(conf, ok, bins=15)
    # bins: 0.05 alone (acc 0, conf 0.05), 0.95 pair (acc .5), 0.55 pair (acc 1)
    want = (1 * 0.05 + 2 * abs(0.5 - 0.95) + 2 * abs(1 - 0.55)) / 5
    assert r["ece"] == pytest.approx(want)
    assert sum(r["count"]) == 5 and len(r["count"]) == 15
    p = np.eye(3)[[0, 1, 2]]
    assert ece(p, np.array([0, 1, 2])) == 0.0


def _balanced_world(n=3000, seed=0):
    """A model trained on balanced classes, applied where class 0 is 8x as common."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.8, 0.1, 0.1])
    y = rng.choice(3, n, p=prior)
    means = np.eye(3) * 2.0
    x = means[y] + rng.normal(0, 1, (n, 3))
    logits = 2.0 * x  # equal-prior log-likelihoods, over-confident by 2 * (means) scaling
    return logits, y, prior


def test_temperature_and_prior_correction_lower_nll_and_ece():
    z, y, prior = _balanced_world()
    training = {"config": {"balance": "sampler"},
                "class_counts": {c: int(n) for c, n in zip("abc", prior * 1000)}}
    cal = fit_calibration(z, y, list("abc"), training)
    p = apply_card(z, cal)
    assert cal["nll_after"] < cal["nll_before"]
    assert ece(p, y) < ece(softmax(z), y)
    assert cal["bias"] == pytest.approx(list(np.log(prior) - np.log(1 / 3)), abs=1e-5)
    assert check_calibration(cal, 3) == ""
    t = fit_temperature(z, y, np.array(cal["bias"]))
    assert nll(z, y, t, np.array(cal["bias"])) <= nll(z, y, t * 1.1, np.array(cal["bias"]))
    assert nll(z, y, t, np.array(cal["bias"])) <= nll(z, y, t / 1.1, np.array(cal["bias"]))


def test_the_model_prior_comes_from_the_training_config():
    counts = {"a": 10, "b": 30}
    assert model_prior({"config": {"balance": "sampler"}, "class_counts": counts},
                       ["a", "b"])[0] == pytest.approx([0.5, 0.5])
    assert model_prior({"config": {"balance": "none"}, "class_counts": counts},
                       ["a", "b"])[0] == pytest.approx([0.25, 0.75])


def test_calibration_of_one_class_or_nothing_is_refused():
    z = np.zeros((4, 3))
    with pytest.raises(ConfigError, match="at least two classes"):
        fit_temperature(z, np.zeros(4, int))
    with pytest.raises(ConfigError, match="empty"):
        fit_temperature(z[:0], np.zeros(0, int))


def test_calibrated_probabilities_are_softmax_of_scaled_shifted_outputs():
    z = np.array([[1.0, 2.0, 0.5]])
    got = calibrated(z, 2.0, [0.0, -1.0, 0.5])
    want = np.exp(z / 2 + [0, -1, 0.5])
    assert got == pytest.approx(want / want.sum())
    # log-probabilities give the same as logits: the constant shift cancels
    assert calibrated(np.log(softmax(z)), 2.0, [0, -1, 0.5]) == pytest.approx(got)


def test_the_bootstrap_resamples_whole_lesions():
    # two lesions, each with all-equal values: any resample's mean is one of 0, 0.5, 1
    lesions = ["A"] * 5 + ["B"] * 5
    v = np.array([0.0] * 5 + [1.0] * 5)
    seen = set()

    def metric(idx):
        seen.add(round(float(v[idx].mean()), 6))
        return {"mean": float(v[idx].mean())}

    ci = bootstrap(metric, lesions, n=200, seed=1)
    assert seen <= {0.0, 0.5, 1.0} and len(seen) == 3
    assert ci["mean"][0] <= 0.5 <= ci["mean"][1]


def test_bootstrap_intervals_hold_the_point_estimate_and_narrow_with_data():
    y, s = _scores(n=2000)
    lesions = [str(i // 2) for i in range(len(y))]
    wide = bootstrap(lambda i: {"auc": auroc(y[i[:200]], s[i[:200]])}, lesions[:], n=100)
    ci = bootstrap(lambda i: {"auc": auroc(y[i], s[i])}, lesions, n=100)
    assert ci["auc"][0] <= auroc(y, s) <= ci["auc"][1]
    assert ci["auc"][1] - ci["auc"][0] < wide["auc"][1] - wide["auc"][0]


def test_referral_field_names_a_threshold_per_task():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    probs = softmax(np.eye(7)[y] * 2 + rng.normal(0, 1, (500, 7)))
    ref = referral_field(probs, y, CLASSES, 0.9)
    assert set(ref["tasks"]) == {"malignant", "melanoma"} and ref["score"] == "malignant"
    assert ref["tasks"]["malignant"]["val_sensitivity"] >= 0.9


# ---- the input gate -------------------------------------------------------------------------

def _lesion_like(n=60, size=64, seed=0):
    """Pinkish skin with a darker blob in the middle, some texture: stand-ins for lesions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - size / 2
    out = []
    for _ in range(n):
        skin = np.array([200, 150, 140]) + rng.normal(0, 10, 3)
        blob = np.exp(-(xx ** 2 + yy ** 2) / (2 * (size / rng.uniform(5, 8)) ** 2))[..., None]
        img = skin * (1 - 0.6 * blob) + rng.normal(0, 8, (size, size, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_the_gate_passes_its_own_kind_and_names_each_reason():
    from skinedge.gate import assess, check_gate, fit_gate

    imgs = _lesion_like()
    g = fit_gate(imgs, min_side=64)
    assert check_gate(g) == ""
    assert json.loads(json.dumps(g)) == g  # JSON all the way down (it lives in the card)
    assert np.mean([assess(im, (80, 64), g).usable for im in imgs]) >= 0.95
    v = assess(imgs[0], (40, 30), g)
    assert not v.usable and v.reasons[0].startswith("too small: 40x30")
    assert any(r.startswith("too dark") for r in assess(imgs[0] // 8, (64, 64), g).reasons)
    assert any(r.startswith("too bright") for r in
               assess(np.full_like(imgs[0], 250), (64, 64), g).reasons)
    flat = np.full_like(imgs[0], 128)
    assert any(r.startswith("blurred") for r in assess(flat, (64, 64), g).reasons)
    noise = np.random.default_rng(0).integers(0, 256, imgs[0].shape).astype(np.uint8)
    assert any(r.startswith("does not look like a dermoscopic")
               for r in assess(noise, (64, 64), g).reasons)


def test_ood_probe_images_come_from_installed_packages_and_generators():
    from skinedge.ood_images import bundled_photos, corrupted, generated

    gen = generated(size=64, per_kind=1)
    assert {n.rstrip("0123456789") for n, _ in gen} == {"noise", "flat", "stripes", "checker",
                                                        "gradient", "text"}
    assert all(im.mode == "RGB" for _, im in gen)
    bad = corrupted(_lesion_like(n=7))
    assert len({n.rstrip("0123456789") for n, _ in bad}) == 7
    for name, im in bundled_photos(crops=1):
        assert isinstance(im, Image.Image) and ":" in name


# ---- the card's trust fields ----------------------------------------------------------------

def _card_dict(default_model):
    return json.loads((default_model / "card.json").read_text())


@pytest.mark.parametrize("field,value,needle", [
    ("calibration", {"temperature": 0, "bias": [0] * 7}, "temperature"),
    ("calibration", {"temperature": 1.0, "bias": [0] * 6}, "bias of 7"),
    ("calibration", [1], "JSON object"),
    ("referral", {"score": "malignant", "tasks": {"malignant": {"threshold": 2,
                                                               "labels": ["mel"]}}}, "[0, 1]"),
    ("referral", {"score": "x", "tasks": {}}, "'score'"),
    ("gate", {"min_side": 1}, "min_side"),
    ("intended_use", {"summary": ""}, "summary"),
])
def test_malformed_trust_fields_name_the_field(default_model, field, value, needle):
    from skinedge.card import ModelCard

    d = _card_dict(default_model)
    d[field] = value
    with pytest.raises(CheckpointError, match=f"'{field}'.*{__import__('re').escape(needle)}"):
        ModelCard.from_dict(d, "x/card.json")


def test_an_old_card_without_trust_fields_loads_and_predicts_uncalibrated(default_model):
    import skinedge
    from skinedge.card import ModelCard

    d = _card_dict(default_model)
    for k in ("calibration", "referral", "gate", "intended_use"):
        d.pop(k, None)
    card = ModelCard.from_dict(d)
    assert card.calibration == {} and card.referral == {} and card.gate == {}
    clf = skinedge.load(default_model)
    clf.card = card
    img = np.full((150, 200, 3), (190, 140, 130), np.uint8)
    p = clf.predict(img)
    assert p.calibrated is False and p.refer is None and p.threshold is None and p.gate is None
    assert p.malignant_probability == pytest.approx(
        sum(p.probabilities[c] for c in ("akiec", "bcc", "mel")))


# ---- one calibration, every runtime --------------------------------------------------------

@pytest.fixture(scope="module")
def calibrated_exports(small_model, tmp_path_factory) -> dict:
    """The small model calibrated on its validation split, exported unquantized to every
    target: {target name: artifact path (None where the export failed)}."""
    from skinedge.api import SAMPLE_DATA
    from skinedge.calibrate import calibrate_checkpoint
    from skinedge.exporting import ExportConfig, run_export

    root = tmp_path_factory.mktemp("calibrated")
    calibrate_checkpoint(small_model, SAMPLE_DATA, root / "ckpt", sensitivity=0.9, progress=False)
    results = run_export(ExportConfig(model=str(root / "ckpt"), target="all", quant="fp32",
                                      out=str(root / "artifacts"), progress=False))
    out = {r.target: r.path if r.status != "failed" else None for r in results}
    return {"eager": str(root / "ckpt"), **out}


@pytest.mark.parametrize("target", list(__import__("skinedge.targets", fromlist=["TARGETS"])
                                        .TARGETS))
def test_every_runtime_gives_the_same_calibrated_probabilities_and_referral(
        calibrated_exports, target):
    import skinedge
    from skinedge.api import SAMPLE_DATA
    from skinedge.targets import get_target

    path = calibrated_exports.get(target)
    assert path, f"no {target} artifact was written"
    module = get_target(target).load_module()
    eager = skinedge.load(calibrated_exports["eager"])
    card = module.read_card(__import__("pathlib").Path(path))
    for k in ("calibration", "referral", "gate", "intended_use"):
        assert getattr(card, k) == getattr(eager.card, k) and getattr(card, k), k
    runs, why = module.can_run_here()
    if not runs:  # e.g. CoreML off macOS: the embedded card is what its app applies
        pytest.skip(why)
    images = [str(p) for p in sorted((SAMPLE_DATA / "images").iterdir())[:24]]
    got, ref = skinedge.load(path).predict(images), eager.predict(images)
    for g, r in zip(got, ref):
        assert g.calibrated and r.calibrated and g.threshold == r.threshold
        assert g.probabilities == pytest.approx(r.probabilities, abs=1e-4)
        assert g.malignant_probability == pytest.approx(r.malignant_probability, abs=1e-4)
        if abs(r.malignant_probability - r.threshold) > 1e-4:  # not on the threshold itself
            assert g.refer == r.refer
        assert g.gate == r.gate  # the gate reads the same preprocessed pixels


def test_calibrate_keeps_the_weights_and_reseals_the_card(default_model, tmp_path):
    import skinedge
    from skinedge.api import SAMPLE_DATA
    from skinedge.calibrate import calibrate_checkpoint
    from skinedge.checkpoint import load_checkpoint

    out = tmp_path / "cal"
    f = calibrate_checkpoint(default_model, SAMPLE_DATA, out, sensitivity=0.9, progress=False)
    assert (out / "model.safetensors").read_bytes() == \
        (default_model / "model.safetensors").read_bytes()
    card = load_checkpoint(out)[1]  # verifies the new integrity hash
    assert card.calibration == f["calibration"] and card.referral["target_sensitivity"] == 0.9
    p = skinedge.load(out).predict(sorted((SAMPLE_DATA / "images").iterdir())[0])
    assert p.calibrated and p.refer is not None and p.gate["usable"] in (True, False)


@pytest.mark.parametrize("args,needle", [
    (["--sensitivity", "1.5"], "sensitivity"),
    (["--sensitivity", "0"], "sensitivity"),
    ([], "--data is required"),
    (["--prevalence", "mel"], "--prevalence"),
])
def test_calibrate_refuses_bad_requests_in_one_line(args, needle, tmp_path):
    from helpers import run_cli

    from skinedge.api import SAMPLE_DATA

    data = [] if needle == "--data is required" else ["--data", str(SAMPLE_DATA)]
    r = run_cli("calibrate", "--out", str(tmp_path / "x"), *data, *args)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_calibrate_refuses_an_artifact(tmp_path):
    from skinedge.calibrate import calibrate_checkpoint

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ConfigError, match="calibrate a checkpoint folder"):
        calibrate_checkpoint(onnx, tmp_path)
