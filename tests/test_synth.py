"""Synthetic lesions: a tiny latent diffusion model really trains, samples, resumes and mixes."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import read_rows
from helpers import run_cli, torchrun
from safetensors.torch import load_file

from skinedge.api import SAMPLE_DATA
from skinedge.data import read_ham10000
from skinedge.errors import ConfigError, DataError, SkinedgeError
from skinedge.labels import CLASSES
from skinedge.synth.config import preset_config
from skinedge.synth.mix import read_synthetic, select_synthetic
from skinedge.synth.quality import pixel_nn
from skinedge.synth.sample import COLUMNS, SampleRequest, sample_dataset
from skinedge.synth.train import train_synth


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    os.environ.setdefault("SKINEDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    run = tmp_path_factory.mktemp("synth") / "run"
    train_synth(preset_config("tiny", str(SAMPLE_DATA), str(run), progress=False))
    return run


def _sample(run, out, **kw):
    kw.setdefault("steps", 3)
    return sample_dataset(SampleRequest(run=str(run), out=str(out), progress=False, **kw))


def test_tiny_training_writes_model_grids_and_curves(tiny_run):
    for name in ("config.json", "split.json", "loss_curves.png", "samples/final_grid.png",
                 "samples/autoencoder_recon.png", "model/autoencoder.safetensors",
                 "model/unet_ema.safetensors", "model/synth_card.json"):
        assert (tiny_run / name).is_file(), name
    card = json.loads((tiny_run / "model/synth_card.json").read_text())
    # The tiny preset: 4 autoencoder steps, 6 UNet steps, each one an optimizer step.
    assert card["autoencoder_steps"] == 4 and card["unet_steps"] == 6
    assert _optimizer_steps(tiny_run / "autoencoder") == {4}
    assert _optimizer_steps(tiny_run / "unet") == {6}
    assert card["latent_scaling"] > 0 and len(card["model_sha256"]) == 64
    # Only the train split feeds the generator.
    split = json.loads((tiny_run / "split.json").read_text())
    n_train = sum(1 for v in split["assignment"].values() if v == "train")
    assert card["train_images"] == n_train == sum(card["train_class_counts"].values())
    # The EMA weights differ from the raw weights (EMA is really applied).
    ema = load_file(str(tiny_run / "unet/ema.safetensors"))
    raw = load_file(str(tiny_run / "unet/unet.safetensors"))
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)


def test_sampling_writes_requested_classes_in_ham10000_layout(tiny_run, tmp_path):
    out = tmp_path / "syn"
    r = _sample(tiny_run, out, per_class=3, classes=("df", "vasc"), guidance=3.0, seed=5)
    assert r["counts"] == {"df": 3, "vasc": 3}
    fields, rows = read_rows(out / "HAM10000_metadata.csv")
    assert tuple(fields) == COLUMNS
    card = json.loads((tiny_run / "model/synth_card.json").read_text())
    assert sorted(row["dx"] for row in rows) == ["df"] * 3 + ["vasc"] * 3
    assert {row["synthetic"] for row in rows} == {"1"}
    assert {row["model_sha256"] for row in rows} == {card["model_sha256"]}
    assert {(row["guidance"], row["seed"]) for row in rows} == {("3.0", "5")}
    ds = read_ham10000(out, require_all_classes=False)  # what `skinedge train` reads
    assert len(ds) == 6 and len(list((out / "images").glob("*.png"))) == 6
    from PIL import Image
    assert Image.open(ds.records[0].path).size == (16, 16)


def test_balance_to_tops_up_real_train_counts(tiny_run, tmp_path):
    card = json.loads((tiny_run / "model/synth_card.json").read_text())
    counts = card["train_class_counts"]
    target = max(counts.values()) - 5
    r = _sample(tiny_run, tmp_path / "bal", balance_to=target)
    assert r["counts"] == {c: max(0, target - counts[c]) for c in CLASSES}


def test_interrupted_sampling_resumes_without_duplicates(tiny_run, tmp_path):
    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=2, classes=("akiec", "bcc", "df"))
    before = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    # An interruption: the CSV is written last, and some images are not there yet.
    (out / "HAM10000_metadata.csv").unlink()
    for p in sorted((out / "images").iterdir())[::2]:
        p.unlink()
    r = _sample(tiny_run, out, per_class=2, classes=("akiec", "bcc", "df"))
    assert r["generated_now"] == 3 and r["total"] == 6
    after = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    assert after.keys() == before.keys()
    # Each image depends only on (seed, class, index): the regenerated ones are identical.
    assert sum(before[n] == after[n] for n in after) == 6
    assert len(read_rows(out / "HAM10000_metadata.csv")[1]) == 6


@pytest.mark.parametrize("kw, message", [
    ({"per_class": 2, "classes": ("df", "melanoma")}, "unknown class 'melanoma'"),
    ({"per_class": 2, "guidance": 25.0}, "--guidance 25.0 out of range"),
    ({"per_class": 2, "guidance": -1.0}, "out of range"),
    ({"per_class": 0}, "count 0 out of range"),
    ({"per_class": 2, "balance_to": 3}, "exactly one of"),
    ({"per_class": 2, "steps": 0}, "--steps 0 out of range"),
])
def test_bad_sampling_requests(tiny_run, tmp_path, kw, message):
    with pytest.raises(ConfigError, match=message):
        _sample(tiny_run, tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


def test_sampling_refuses_a_folder_with_another_dataset(tiny_run, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(SAMPLE_DATA, real)
    listing = sorted(p.name for p in real.rglob("*"))
    with pytest.raises(ConfigError, match="holds a HAM10000 dataset"):
        _sample(tiny_run, real, per_class=1)
    assert sorted(p.name for p in real.rglob("*")) == listing
    syn = tmp_path / "syn"
    _sample(tiny_run, syn, per_class=1)
    csv_before = (syn / "HAM10000_metadata.csv").read_bytes()
    with pytest.raises(ConfigError, match="different synthetic dataset.*guidance"):
        _sample(tiny_run, syn, per_class=1, guidance=4.0)
    assert (syn / "HAM10000_metadata.csv").read_bytes() == csv_before


def test_sampling_from_missing_unfinished_or_tampered_runs(tiny_run, tmp_path):
    r = run_cli("synth", "sample", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                "--per-class", "1")
    assert r.returncode == 2 and "not found" in r.stderr
    half = tmp_path / "half"
    shutil.copytree(tiny_run, half)
    shutil.rmtree(half / "model")
    r = run_cli("synth", "sample", str(half), "--out", str(tmp_path / "o"), "--per-class", "1")
    assert r.returncode == 2 and "training has not finished" in r.stderr and "unet at step 6" in r.stderr
    bad = tmp_path / "bad"
    shutil.copytree(tiny_run, bad)
    with open(bad / "model/unet_ema.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\0\0\0")
    r = run_cli("synth", "sample", str(bad), "--out", str(tmp_path / "o"), "--per-class", "1")
    assert r.returncode == 2 and "sha256 does not match" in r.stderr
    assert not (tmp_path / "o").exists()


def test_mixing_produces_the_requested_ratio(tiny_run, tmp_path):
    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=6, classes=("df", "vasc", "akiec"), steps=1)
    ds, _ = read_synthetic(out)
    # ratio r of the combined set with R real images: round(r * R / (1 - r)) synthetic.
    for ratio, n_real, want in ((0.1, 100, 11), (0.25, 30, 10), (0.5, 9, 9), (0.0, 50, 0)):
        assert len(select_synthetic(ds, n_real, ratio, seed=0)) == want, (ratio, n_real)
    assert len(select_synthetic(ds, 10, None, 0)) == 18
    # Classes in proportion to what the folder holds: 6 df, 2 vasc, 4 akiec -> 3, 1, 2 of 6.
    ids = {f"SYN_df_{i:06d}" for i in range(6)} | {f"SYN_vasc_{i:06d}" for i in range(2)} | \
          {f"SYN_akiec_{i:06d}" for i in range(4)}
    uneven = ds.subset(ids)
    chosen = select_synthetic(uneven, 18, 0.25, seed=0)  # 0.25 * 18 / 0.75 = 6
    counts = chosen.class_counts()
    assert (counts["df"], counts["vasc"], counts["akiec"]) == (3, 1, 2) and len(chosen) == 6
    assert {r.image_id for r in chosen.records} <= ids
    again = select_synthetic(uneven, 18, 0.25, seed=0)
    assert [r.image_id for r in again.records] == [r.image_id for r in chosen.records]
    with pytest.raises(DataError, match="needs 90 synthetic images"):
        select_synthetic(ds, 10, 0.9, 0)
    with pytest.raises(DataError, match="must be in"):
        select_synthetic(ds, 10, 1.0, 0)


def _optimizer_steps(folder: Path) -> set[int]:
    """The step counters of every parameter in a saved AdamW state (optimizer.safetensors)."""
    state = load_file(str(folder / "optimizer.safetensors"))
    return {int(v) for k, v in state.items() if k.endswith(".step")}


def test_training_on_real_plus_synthetic_keeps_the_real_step_count(tiny_run, tmp_path):
    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=20, classes=("df", "vasc"), steps=1)
    run = tmp_path / "clf"
    r = run_cli("train", "--out", str(run), "--epochs", "1", "--img-size", "32", "--batch-size",
                "16", "--no-progress", "--synthetic", str(out), "--synthetic-ratio", "0.1")
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((run / "best/card.json").read_text())
    info = card["training"]["synthetic"]
    split = json.loads((run / "split.json").read_text())
    n_real = sum(1 for v in split["assignment"].values() if v == "train")
    n_syn = round(0.1 * n_real / 0.9)  # a 10% share of the combined training set
    assert info["n_real_train"] == n_real and info["n_synthetic"] == n_syn
    # The tiny preset generates 16 px images: trained on at 32 px, they are upsampled, and
    # the run says so.
    assert info["generated_px"] == 16
    assert f"{out}: its images were generated at 16 px and are upsampled to 32 px" in r.stderr
    # 40 images, 20 per class, split in proportion: the classes differ by at most one.
    assert sorted(n for n in info["class_counts"].values() if n) == [n_syn // 2, n_syn - n_syn // 2]
    # One epoch takes as many optimizer steps (full batches) as a real-only run would, not
    # as many as real + synthetic images would give.
    assert (n_real + n_syn) // 16 != n_real // 16
    assert _optimizer_steps(run / "last") == {n_real // 16}
    # Synthetic images never enter val/test: the split lists real images only.
    assert not any(k.startswith("SYN_") for k in split["assignment"])


def test_synthetic_from_another_split_is_refused(tiny_run, tmp_path):
    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=2, classes=("df",))
    r = run_cli("train", "--out", str(tmp_path / "clf"), "--epochs", "1", "--img-size", "32",
                "--seed", "3", "--no-progress", "--synthetic", str(out))
    assert r.returncode == 2 and "different split" in r.stderr


def test_extended_training_equals_an_uninterrupted_run(tmp_path):
    """Resuming from a stage checkpoint continues exactly: 3 + 3 UNet steps == 6 steps."""
    common = dict(progress=False, ae_steps=3)
    train_synth(preset_config("tiny", str(SAMPLE_DATA), str(tmp_path / "a"), **common))
    stopped = tmp_path / "b"
    train_synth(preset_config("tiny", str(SAMPLE_DATA), str(stopped), unet_steps=3, **common))
    assert json.loads((stopped / "unet/state.json").read_text())["step"] == 3
    train_synth(preset_config("tiny", str(SAMPLE_DATA), str(stopped), **common))
    for name in ("model/unet_ema.safetensors", "model/autoencoder.safetensors",
                 "unet/unet.safetensors"):
        a, b = load_file(str(tmp_path / "a" / name)), load_file(str(stopped / name))
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_killed_training_resumes(tmp_path):
    run = tmp_path / "run"
    args = ["synth", "train", "--preset", "tiny", "--out", str(run), "--no-progress",
            "--unet-steps", "40", "--checkpoint-every", "2", "--sample-every", "1000"]
    p = subprocess.Popen([sys.executable, "-m", "skinedge.cli", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "unet" / "state.json"
    deadline = time.time() + 300
    while not state.is_file() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = json.loads(state.read_text())["step"]
    assert 0 < done < 40 and not (run / "model").exists()
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    st = json.loads(state.read_text())
    assert st["step"] == 40 and len(st["losses"]) == 40
    assert (run / "model/synth_card.json").is_file()


def test_resuming_with_a_malicious_pickle_is_refused(tiny_run, tmp_path):
    """A stage checkpoint replaced by a pickle that would run code is an error naming it."""
    import io

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    buf = io.BytesIO()
    torch.save({"0.exp_avg": Payload()}, buf)
    run = tmp_path / "run"
    for name in ("autoencoder/optimizer.safetensors", "unet/ema.safetensors"):
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(tiny_run, run)
        (run / name).write_bytes(buf.getvalue())
        try:
            with pytest.raises(SkinedgeError, match=re.escape(str(run / name))):
                train_synth(preset_config("tiny", str(SAMPLE_DATA), str(run), unet_steps=8,
                                          progress=False))
        finally:
            assert not (tmp_path / "pwned").exists(), name
    torch.load(io.BytesIO(buf.getvalue()), weights_only=False)  # the payload is live
    assert (tmp_path / "pwned").is_dir()


def test_changed_configuration_is_refused(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    r = run_cli("synth", "train", "--preset", "tiny", "--out", str(run), "--img-size", "32",
                "--no-progress")
    assert r.returncode == 2 and "different configuration (img_size" in r.stderr


def test_ddp_two_processes_match_one_process(tmp_path):
    args = ["synth", "train", "--preset", "tiny", "--no-progress", "--ae-steps", "2",
            "--unet-steps", "2"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(*args, "--out", str(one)).returncode == 0
    r = torchrun(2, *args, "--out", str(two), env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in ("autoencoder", "unet"):
        la = json.loads((one / stage / "state.json").read_text())["losses"]
        lb = json.loads((two / stage / "state.json").read_text())["losses"]
        # Same global batch and noise; each rank takes half: the first step's loss agrees.
        assert la[0] == pytest.approx(lb[0], rel=1e-4), stage


def test_pixel_nn_finds_rotated_copies():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    query = np.stack([np.rot90(train[3], 1, axes=(0, 1))[:, ::-1], rng.integers(0, 256, (8, 8, 3))])
    d, idx = pixel_nn(query.astype(np.uint8), train)
    assert d[0] == pytest.approx(0, abs=1e-3) and idx[0] == 3
    assert d[1] > 0.2


def test_quality_report_and_downstream_comparison(tiny_run, tmp_path, small_model):
    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=4)
    # A real+synthetic run on the same split as small_model's run (seed 0).
    clf = tmp_path / "clf"
    r = run_cli("train", "--out", str(clf), "--epochs", "1", "--img-size", "64", "--max-batches",
                "2", "--no-progress", "--synthetic", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    base = small_model.parent
    r = run_cli("synth", "report", str(out), "--out", str(tmp_path / "rep"), "--model",
                str(small_model), "--baseline-run", str(base), "--synthetic-run", str(clf), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    split = json.loads((tiny_run / "split.json").read_text())["assignment"]
    for c in CLASSES:
        row = doc["per_class"][c]
        assert row["n_synthetic"] == 4 and row["n_val"] == sum(
            1 for r in read_ham10000(SAMPLE_DATA).records if r.dx == c and split[r.image_id] == "val")
    d = doc["downstream"]
    a = json.loads((base / "metrics.json").read_text())["test"]
    b = json.loads((clf / "metrics.json").read_text())["test"]
    assert d["delta"]["balanced_accuracy"] == pytest.approx(b["balanced_accuracy"] - a["balanced_accuracy"])
    assert d["delta"]["recall_df"] == pytest.approx(b["per_class"]["df"]["recall"] - a["per_class"]["df"]["recall"])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert all(f"| {c} | 4 |" in md for c in CLASSES) and "| balanced_accuracy |" in md
    for png in ("quality.png", "real_vs_synthetic.png", "nearest_neighbours.png", "downstream_recall.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000
    # Swapped arms are refused.
    r = run_cli("synth", "report", str(out), "--out", str(tmp_path / "rep2"), "--model",
                str(small_model), "--baseline-run", str(clf), "--synthetic-run", str(base))
    assert r.returncode == 2 and "--baseline-run must be real-only" in r.stderr


def test_quality_report_flags_copies_of_training_images(tiny_run, tmp_path, small_model):
    """Known answer: a "synthetic" set made of (rotated) training images is all copies."""
    from PIL import Image

    from skinedge.data.cache import cached_images
    from skinedge.synth.quality import quality_report

    out = tmp_path / "syn"
    _sample(tiny_run, out, per_class=3, classes=("bcc", "df", "vasc"), steps=1)
    split = json.loads((tiny_run / "split.json").read_text())["assignment"]
    train = [r for r in read_ham10000(SAMPLE_DATA).records if split[r.image_id] == "train"]
    for c in ("bcc", "df"):  # vasc keeps its generated images
        recs = [r for r in train if r.dx == c][:3]
        for i, arr in enumerate(cached_images(recs, 16, progress=False)):
            Image.fromarray(np.rot90(arr, i, axes=(0, 1)).copy()).save(
                out / "images" / f"SYN_{c}_{i:06d}.png")
    doc = quality_report(out, SAMPLE_DATA, tmp_path / "rep", classifier=small_model)
    for c in ("bcc", "df"):
        row = doc["per_class"][c]
        assert row["pixel_nn_median"] == pytest.approx(0, abs=1e-3), c
        assert row["share_closer_than_val_p1"] == 1.0 and row["nn_same_class"] == 1.0, c
    generated = doc["per_class"]["vasc"]
    assert generated["pixel_nn_min"] > 0.02 and generated["share_closer_than_val_p1"] == 0.0


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_presets_build_consistent_models(preset):
    from skinedge.synth.models import NULL_CLASS, build_autoencoder, build_unet

    cfg = preset_config(preset, "", "")
    vae, unet = build_autoencoder(cfg), build_unet(cfg)
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, cfg.img_size, cfg.img_size)).latent_dist.mean
        assert z.shape == (1, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        eps = unet(z, 10, class_labels=torch.tensor([NULL_CLASS])).sample
    assert eps.shape == z.shape
