"""Small pieces checked against values worked out by hand: loss weights, the LR schedule,
split selection, the Frechet distance and the decoded-image cache."""
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from skinedge.api import SAMPLE_DATA
from skinedge.card import ModelCard
from skinedge.data import make_split, read_ham10000
from skinedge.data.cache import cached_images
from skinedge.data.ham10000 import Record
from skinedge.errors import DataError
from skinedge.evaluate import select_split
from skinedge.synth.quality import frechet
from skinedge.train import TrainConfig, class_weights, lr_at

# -- class-weighted loss -------------------------------------------------------------------

LABELS = np.array([0, 0, 0, 1, 3, 3])  # 6 images, k = 4 classes, class 2 absent


def test_class_weights_are_n_over_k_times_count():
    w = class_weights(LABELS, 4)
    # n / (k * count): 6 / (4 * 3), 6 / (4 * 1), -, 6 / (4 * 2)
    assert w[[0, 1, 3]] == pytest.approx([0.5, 1.5, 0.75])
    # An absent class never indexes the loss, but its weight must not be inf/nan.
    assert w.shape == (4,) and np.isfinite(w[2]) and w[2] > 0


def test_square_root_balancing_draws_and_weighs_so_each_class_counts_equally():
    """--balance sqrt: class c drawn in proportion to sqrt(n_c), its loss weighted by n_c^-1/2;
    together every class gets the same expected share of the loss."""
    from skinedge.data.batches import epoch_order

    labels = np.repeat([0, 1, 2], [900, 100, 25])
    order = epoch_order(labels, seed=0, epoch=0, balanced=0.5, size=200_000)
    drawn = np.bincount(labels[order], minlength=3) / len(order)
    want = np.sqrt([900, 100, 25]) / np.sqrt([900, 100, 25]).sum()
    assert drawn == pytest.approx(want, abs=0.005)
    w = class_weights(labels, 3, power=0.5)
    assert w[0] / w[2] == pytest.approx(np.sqrt(25 / 900))
    share = drawn * w
    assert share / share.sum() == pytest.approx([1 / 3] * 3, abs=0.01)


def test_weighted_cross_entropy_gives_every_class_the_same_total_weight():
    w = class_weights(LABELS, 4)
    per_class_total = np.bincount(LABELS, weights=w[LABELS], minlength=4)
    assert per_class_total == pytest.approx([1.5, 1.5, 0.0, 1.5])  # n / k for each present class
    # So the weighted mean loss is the plain mean, over the present classes, of each class's
    # mean loss: the 3 images of class 0 count as much as the 1 image of class 1.
    logits = torch.randn(len(LABELS), 4, generator=torch.Generator().manual_seed(0))
    y = torch.from_numpy(LABELS)
    weighted = F.cross_entropy(logits, y, weight=torch.tensor(w, dtype=torch.float32))
    per = F.cross_entropy(logits, y, reduction="none").numpy()
    balanced = np.mean([per[LABELS == c].mean() for c in (0, 1, 3)])
    assert float(weighted) == pytest.approx(balanced, rel=1e-5)
    assert float(weighted) != pytest.approx(per.mean(), rel=1e-3)  # unweighted differs


# -- learning-rate schedule ----------------------------------------------------------------

def test_lr_warms_up_linearly_then_decays_by_cosine_to_one_percent():
    # 3 epochs of 2 steps, 1 warm-up epoch: warm-up steps 0-1, cosine over steps 2-5.
    cfg = TrainConfig(data="d", out="o", lr=0.002, epochs=3, warmup_epochs=1)
    lr = [lr_at(cfg, s, 2) for s in range(8)]
    assert lr[0] == pytest.approx(0.001)            # (0 + 1) / 2 of the peak
    assert lr[1] == pytest.approx(0.002)            # end of warm-up: the peak
    assert lr[2] == pytest.approx(0.002)            # cosine starts at the peak (t = 0)
    assert lr[4] == pytest.approx(0.002 * 0.505)    # midpoint t = 1/2: 0.01 + 0.99 / 2
    # Last step, t = 3/4: 0.01 + 0.99 * (1 + cos(3 pi / 4)) / 2 = 0.01 + 0.99 * (1 - 1/sqrt 2) / 2
    assert lr[5] == pytest.approx(0.002 * (0.01 + 0.99 * (1 - 1 / math.sqrt(2)) / 2))
    assert lr[6] == lr[7] == pytest.approx(0.002 * 0.01)  # past the end: held at 1% of peak
    no_warmup = TrainConfig(data="d", out="o", lr=0.002, epochs=3, warmup_epochs=0)
    assert lr_at(no_warmup, 0, 2) == pytest.approx(0.002)


# -- split selection for evaluation --------------------------------------------------------

@pytest.fixture(scope="module")
def sample_ds():
    return read_ham10000(SAMPLE_DATA)


def _card(ds, split, seed, fractions) -> ModelCard:
    return ModelCard(architecture="mobilenetv4_conv_small", input_size=64, mean=(0.5,) * 3,
                     std=(0.2,) * 3, params=1, flops=1,
                     training={"dataset_fingerprint": ds.fingerprint(),
                               "split_fingerprint": split.fingerprint(), "split_seed": seed,
                               "config": {"split_fractions": list(fractions)}})


def _ids(ds) -> set[str]:
    return {r.image_id for r in ds.records}


def test_an_artifact_without_split_json_recomputes_its_split_from_the_card(sample_ds, tmp_path):
    fractions = (0.6, 0.2, 0.2)
    theirs = make_split(sample_ds, 3, fractions)
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"not read")  # nothing beside it: no card.json, no split.json
    got = select_split(artifact, _card(sample_ds, theirs, 3, fractions), sample_ds, "test")
    assert _ids(got) == theirs.ids("test")
    assert _ids(got) != make_split(sample_ds).ids("test")  # the defaults would differ
    # A card whose fingerprint the recomputed split does not reproduce is refused...
    other = make_split(sample_ds, 4, fractions)
    with pytest.raises(DataError, match="recomputed split does not match"):
        select_split(artifact, _card(sample_ds, other, 3, fractions), sample_ds, "test")
    # ...and so is data the model was not trained on (its split is unknown there).
    fewer = sample_ds.subset(set(list(_ids(sample_ds))[:-1]))
    with pytest.raises(DataError, match="not the data the model was trained on"):
        select_split(artifact, _card(sample_ds, theirs, 3, fractions), fewer, "val")


def test_a_split_json_of_another_model_is_ignored(sample_ds, tmp_path):
    fractions = (0.7, 0.15, 0.15)
    mine = make_split(sample_ds, 3, fractions)
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "card.json").write_text("{}")  # marks a checkpoint folder
    make_split(sample_ds, 5, fractions).save(folder / "split.json")  # another model's split
    got = select_split(folder, _card(sample_ds, mine, 3, fractions), sample_ds, "test")
    assert _ids(got) == mine.ids("test")


def test_the_shipped_models_split_json_picks_its_test_images_from_the_sample(sample_ds,
                                                                            default_model):
    card = ModelCard.load(default_model / "card.json")
    assignment = json.loads((default_model / "split.json").read_text())["assignment"]
    expected = {r.image_id for r in sample_ds.records if assignment[r.image_id] == "test"}
    assert 0 < len(expected) < len(sample_ds)
    assert _ids(select_split(default_model, card, sample_ds, "test")) == expected


# -- Frechet distance ----------------------------------------------------------------------

def _gaussian_sample(mean, cov, n, seed) -> np.ndarray:
    """n points whose sample mean and (ddof=1) sample covariance are exactly mean, cov."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # cov(z) = I
    return np.asarray(mean) + z @ np.linalg.cholesky(cov).T


def test_frechet_distance_of_diagonal_and_rotated_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # |mu1 - mu2|^2 = 1 + 0 + 4 = 5; per dimension s1 + s2 - 2 sqrt(s1 s2) = 1, 1, 4
    expected = 5.0 + 1.0 + 1.0 + 4.0
    a = _gaussian_sample(mu1, np.diag(s1), 200, 2)
    b = _gaussian_sample(mu2, np.diag(s2), 300, 3)
    assert frechet(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    # The distance does not depend on the axes: rotate both (full, non-diagonal covariances).
    q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((3, 3)))
    assert frechet(a @ q.T, b @ q.T) == pytest.approx(expected, rel=1e-6)


# -- decoded-image cache -------------------------------------------------------------------

def _stripes(path, left, right, size=32) -> None:
    arr = np.zeros((size, size, 3), dtype=np.uint8)
    arr[:, :size // 2], arr[:, size // 2:] = left, right
    Image.fromarray(arr).save(path)


@pytest.fixture
def one_image_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINEDGE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ISIC_0000001.png"
    _stripes(path, (255, 0, 0), (0, 0, 255))
    return [Record("ISIC_0000001", "HAM_1", "nv", path)], tmp_path / "cache"


def test_cache_serves_a_second_identical_request_from_disk(one_image_cache):
    records, root = one_image_cache
    first = cached_images(records, 16, progress=False)
    assert len(list(root.glob("*.npy"))) == 1
    again = cached_images(records, 16, progress=False)
    assert isinstance(again, np.memmap) and np.array_equal(first, again)


def test_a_changed_image_file_gives_fresh_pixels(one_image_cache):
    records, _ = one_image_cache
    old = np.array(cached_images(records, 16, progress=False))
    assert tuple(old[0, 8, 2]) == (255, 0, 0) and tuple(old[0, 8, 13]) == (0, 0, 255)
    path = records[0].path
    st = path.stat()
    _stripes(path, (0, 255, 0), (255, 255, 0))  # same size in bytes is possible: rely on mtime too
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    new = np.array(cached_images(records, 16, progress=False))
    assert tuple(new[0, 8, 2]) == (0, 255, 0) and tuple(new[0, 8, 13]) == (255, 255, 0)


def test_another_resolution_gives_fresh_pixels(one_image_cache):
    records, _ = one_image_cache
    cached_images(records, 16, progress=False)
    small = np.array(cached_images(records, 8, progress=False))
    assert small.shape == (1, 8, 8, 3)
    # Left half red, right half blue at 8 px too (columns away from the edge).
    assert (small[0, :, :3] == (255, 0, 0)).all() and (small[0, :, 5:] == (0, 0, 255)).all()
