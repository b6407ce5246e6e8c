"""The HAM10000 reader, its errors, and the lesion-disjoint split."""
import numpy as np
import pytest
from conftest import read_rows, write_rows

from skinedge.api import SAMPLE_DATA
from skinedge.data import make_split, read_ham10000
from skinedge.data.cache import cached_images
from skinedge.data.splits import Split
from skinedge.errors import DataError
from skinedge.labels import CLASSES


def test_reads_official_layout_with_two_image_folders(sample_copy):
    ds = read_ham10000(sample_copy)
    assert len(ds) == len(read_ham10000(SAMPLE_DATA))
    folders = {r.path.parent.name for r in ds.records}
    assert folders == {"HAM10000_images_part_1", "HAM10000_images_part_2"}
    assert all(n > 0 for n in ds.class_counts().values())


def test_subfolder_with_its_own_metadata_is_a_separate_dataset(sample_copy):
    nested = sample_copy / "fullres"
    nested.mkdir()
    (nested / "HAM10000_metadata.csv").write_text("lesion_id,image_id,dx\n")
    # an image that would shadow a listed one if the nested folder were searched
    victim = next((sample_copy / "HAM10000_images_part_1").iterdir())
    (nested / victim.name).write_bytes(b"not a jpeg")
    ds = read_ham10000(sample_copy)
    assert all(r.path.parent.name != "fullres" for r in ds.records)


def test_split_is_lesion_disjoint_covers_every_class_and_is_deterministic():
    ds = read_ham10000(SAMPLE_DATA)
    split = make_split(ds, seed=3)
    side_of_lesion = {}
    for r in ds.records:
        side = split.assignment[r.image_id]
        assert side_of_lesion.setdefault(r.lesion_id, side) == side, r.lesion_id
    for side in ("train", "val", "test"):
        classes = {r.dx for r in ds.records if split.assignment[r.image_id] == side}
        assert classes == set(CLASSES), side
    assert make_split(ds, seed=3).assignment == split.assignment
    assert make_split(ds, seed=4).assignment != split.assignment
    n = len(ds)
    assert abs(len(split.ids("train")) / n - 0.7) < 0.1


def test_split_file_round_trip_and_tamper_check(tmp_path):
    split = make_split(read_ham10000(SAMPLE_DATA), seed=0)
    path = tmp_path / "split.json"
    split.save(path)
    assert Split.load(path).assignment == split.assignment
    path.write_text(path.read_text().replace('"train"', '"test"', 1))
    with pytest.raises(DataError, match="fingerprint"):
        Split.load(path)


def test_split_on_dev_data_is_lesion_disjoint():
    from conftest import DEV_DATA

    if not DEV_DATA.is_dir():
        pytest.skip("development data not present")
    ds = read_ham10000(DEV_DATA)
    split = make_split(ds, seed=0)
    sides = {}
    for r in ds.records:
        sides.setdefault(r.lesion_id, set()).add(split.assignment[r.image_id])
    assert all(len(s) == 1 for s in sides.values())
    for side in ("train", "val", "test"):
        assert {r.dx for r in ds.records if split.assignment[r.image_id] == side} == set(CLASSES)


@pytest.mark.parametrize("case, message", [
    ("no_csv", "no HAM10000_metadata.csv"),
    ("missing_column", "missing column"),
    ("unknown_dx", "unknown dx label 'melanoma'"),
    ("missing_image", "not found under"),
    ("empty_class", "no images for class"),
    ("no_images", "no images"),
    ("duplicate", "listed twice"),
    ("no_folder", "does not exist"),
])
def test_reader_errors_name_the_file_and_problem(sample_copy, case, message):
    csv_path = sample_copy / "HAM10000_metadata.csv"
    fields, rows = read_rows(csv_path)
    target = sample_copy
    if case == "no_csv":
        csv_path.unlink()
    elif case == "missing_column":
        write_rows(csv_path, [f for f in fields if f != "dx"],
                   [{k: v for k, v in r.items() if k != "dx"} for r in rows])
    elif case == "unknown_dx":
        rows[5]["dx"] = "melanoma"
        write_rows(csv_path, fields, rows)
    elif case == "missing_image":
        next((sample_copy / "HAM10000_images_part_1").iterdir()).unlink()
    elif case == "empty_class":
        write_rows(csv_path, fields, [r for r in rows if r["dx"] != "df"])
    elif case == "no_images":
        for folder in ("HAM10000_images_part_1", "HAM10000_images_part_2"):
            for p in (sample_copy / folder).iterdir():
                p.unlink()
    elif case == "duplicate":
        write_rows(csv_path, fields, rows + rows[:1])
    elif case == "no_folder":
        target = sample_copy / "nope"
    with pytest.raises(DataError, match=message) as exc:
        read_ham10000(target)
    if case in ("unknown_dx", "missing_column", "duplicate"):
        assert "HAM10000_metadata.csv" in str(exc.value)


def test_undecodable_image_is_named_before_training(sample_copy):
    ds = read_ham10000(sample_copy)
    bad = ds.records[7].path
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DataError, match=bad.name):
        cached_images(ds.records, 32, progress=False)


def test_cache_matches_fresh_decode_and_is_reused(tmp_path):
    ds = read_ham10000(SAMPLE_DATA)
    recs = ds.records[:12]
    a = cached_images(recs, 48, progress=False)
    b = cached_images(recs, 48, progress=False)
    assert isinstance(b, np.memmap) or b.base is not None  # second call reads the file
    assert a.shape == (12, 48, 48, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_repeated_draws_of_one_image_get_different_views():
    """The class-balanced sampler draws rare images many times per epoch; each draw must be a
    new augmentation, not the same crop/rotation/colour again."""
    import torch

    from skinedge.data.augment import AugmentConfig
    from skinedge.data.batches import CachedImages, epoch_order

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1, 1, 1, 1, 1])        # image 0 is the only one of its class
    ds = CachedImages(images, labels, np.arange(6), AugmentConfig(), seed=3)
    order = epoch_order(labels, seed=3, epoch=0, balanced=True, size=60)
    ds.set_epoch(0, order)
    draws = [d for d in range(len(order)) if order[d] == 0]
    assert len(draws) >= 10
    views = {ds[d][0].numpy().tobytes() for d in draws}
    assert len(views) == len(draws)
    assert torch.equal(ds[draws[0]][0], ds[draws[0]][0])      # still deterministic
