"""Our metrics agree with scikit-learn's."""
import numpy as np
import pytest

sk = pytest.importorskip("sklearn.metrics")

from skinedge.metrics import classification_metrics  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_agree_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = 400, 7
    y = rng.choice(k, size=n, p=[0.03, 0.05, 0.11, 0.01, 0.11, 0.67, 0.02])
    y[:k] = np.arange(k)  # every class present
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] * rng.random((n, 1))
    logits[:20] = np.round(logits[:20])  # ties in the AUC ranks
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = probs.argmax(1)
    m = classification_metrics(y, probs)
    assert m["n"] == n
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"))
    assert m["auc_ovr"] == pytest.approx(sk.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    np.testing.assert_array_equal(np.array(m["confusion_matrix"]), sk.confusion_matrix(y, pred, labels=range(k)))
    rec = sk.recall_score(y, pred, average=None, labels=range(k), zero_division=0)
    prec = sk.precision_score(y, pred, average=None, labels=range(k), zero_division=0)
    for i, c in enumerate(m["labels"]):
        assert m["per_class"][c]["recall"] == pytest.approx(rec[i])
        assert m["per_class"][c]["precision"] == pytest.approx(prec[i])
        assert m["per_class"][c]["support"] == int((y == i).sum())


def test_balanced_accuracy_exposes_a_model_that_always_says_nv():
    y = np.array([5] * 67 + [4] * 11 + [2] * 11 + [1] * 5 + [0] * 3 + [6] * 2 + [3] * 1)
    probs = np.tile(np.eye(7)[5], (len(y), 1))
    m = classification_metrics(y, probs)
    assert m["accuracy"] == pytest.approx(0.67)
    assert m["balanced_accuracy"] == pytest.approx(1 / 7)


def test_balanced_accuracy_from_labels_matches_the_full_metrics():
    from skinedge.metrics import balanced_accuracy, classification_metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 7, 300)
    probs = rng.dirichlet(np.ones(7), 300)
    probs[np.arange(150), y[:150]] += 1  # half the images right, so the figure is not chance
    probs /= probs.sum(1, keepdims=True)
    want = classification_metrics(y, probs)["balanced_accuracy"]
    assert balanced_accuracy(y, probs.argmax(1)) == pytest.approx(want)
    assert balanced_accuracy(y[y != 3], probs[y != 3].argmax(1)) == pytest.approx(
        classification_metrics(y[y != 3], probs[y != 3])["balanced_accuracy"])
