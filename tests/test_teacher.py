"""MAE pre-training, teacher fine-tuning from it, and distillation: real runs on the shipped
sample (smoke sizes), plus known-answer checks of the pieces."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import run_cli
from safetensors.torch import load_file

from skinedge.distributed import DistEnv
from skinedge.models import create_model
from skinedge.pretrain.mae import MaskedAutoencoder, patchify, unpatchify
from skinedge.train.loop import lr_scales
from skinedge.train.objectives import CachedTeacher, DistillationObjective, LiveTeachers

SMOKE = ["--preset", "smoke", "--no-progress"]


def test_patchify_round_trip_and_masking():
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(unpatchify(patchify(x, 16), 16), x)
    assert torch.equal(patchify(x, 16)[0, 1], x[0, :, :16, 16:].permute(1, 2, 0).reshape(-1))
    mae = MaskedAutoencoder(create_model("vit_tiny_patch16", 64, [0.5] * 3, [0.25] * 3),
                            decoder_dim=32, decoder_depth=1)
    noise = torch.rand(3, 16)
    loss, pred, mask = mae(torch.rand(3, 3, 64, 64), noise)
    assert mask.sum(1).tolist() == [12, 12, 12]          # 75% of 16 patches hidden
    # The visible patches are the 4 with the lowest noise.
    assert torch.equal(mask == 0, noise <= noise.sort(1).values[:, 3:4])
    assert pred.shape == (3, 16, 16 * 16 * 3) and torch.isfinite(loss)


def test_mae_loss_counts_only_masked_patches():
    mae = MaskedAutoencoder(create_model("vit_tiny_patch16", 32, [0.5] * 3, [0.25] * 3),
                            decoder_dim=32, decoder_depth=1, norm_pix_loss=False)
    x, noise = torch.rand(1, 3, 32, 32), torch.tensor([[0.1, 0.9, 0.8, 0.7]])  # patch 0 visible
    _, pred, mask = mae(x, noise)
    by_hand = ((pred - patchify(x, 16)) ** 2).mean(-1)[0, 1:].mean()
    assert torch.allclose(mae(x, noise)[0], by_hand)


def test_pretrain_resume_equals_uninterrupted_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("pretrain", "--out", str(a), *SMOKE).returncode == 0
    r = run_cli("pretrain", "--out", str(b), "--epochs", "1", *SMOKE)
    assert r.returncode == 0, r.stderr
    r = run_cli("pretrain", "--out", str(b), *SMOKE)       # resumes at epoch 2 of 2
    assert r.returncode == 0, r.stderr
    wa, wb = (load_file(str(p / "last" / "model.safetensors")) for p in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    hist = json.loads((b / "last" / "trainer_state.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert (a / "reconstructions.png").is_file() and (a / "training_curves.png").is_file()
    card = json.loads((a / "best" / "card.json").read_text())
    assert card["training"]["stage"] == "mae" and card["architecture"] == "vit_tiny_patch16"


def test_pretrain_ddp_two_processes_match_one_process(tmp_path):
    """Masks are drawn for the global batch and sliced per rank: two processes under torchrun
    see the same masked patches as one, so the losses agree up to summation order."""
    import os

    from helpers import torchrun

    args = ["pretrain", *SMOKE, "--epochs", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(*args, "--out", str(one)).returncode == 0
    r = torchrun(2, *args, "--out", str(two), env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    ha, hb = (json.loads((p / "last" / "trainer_state.json").read_text())["history"][0]
              for p in (one, two))
    assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)
    assert ha["val_loss"] == pytest.approx(hb["val_loss"], rel=1e-3)
    assert (two / "best" / "card.json").is_file() and not list(two.glob(".*tmp*"))


def test_pretrain_refuses_a_changed_configuration(tmp_path):
    assert run_cli("pretrain", "--out", str(tmp_path), "--epochs", "1", *SMOKE).returncode == 0
    r = run_cli("pretrain", "--out", str(tmp_path), "--mask-ratio", "0.5", *SMOKE)
    assert r.returncode == 2 and "mask_ratio" in r.stderr


@pytest.fixture(scope="module")
def mae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mae")
    r = run_cli("pretrain", "--out", str(out), *SMOKE)
    assert r.returncode == 0, r.stderr
    return out


def test_teacher_fine_tunes_from_the_encoder(mae_run, tmp_path):
    from skinedge.checkpoint import load_checkpoint, read_card
    from skinedge.train.config import TrainConfig
    from skinedge.train.loop import load_init

    model = create_model("vit_tiny_patch16", 32, [0.5] * 3, [0.25] * 3)
    info = load_init(model, read_card(mae_run / "best"), str(mae_run / "best"))
    donor, _ = load_checkpoint(mae_run / "best")
    assert torch.equal(model.backbone.blocks[0].attn.qkv.weight, donor.backbone.blocks[0].attn.qkv.weight)
    assert info["stage"] == "mae"
    run = tmp_path / "t"
    r = run_cli("train", "--arch", "vit_tiny_patch16", "--img-size", "32", "--init",
                str(mae_run / "best"), "--layer-decay", "0.75", "--epochs", "1", "--max-batches",
                "2", "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    card = json.loads((run / "best" / "card.json").read_text())
    assert card["training"]["init"]["sha256"] == info["sha256"]
    assert TrainConfig.load(run / "config.json").layer_decay == 0.75


def test_init_with_another_architecture_is_refused(mae_run, tmp_path):
    r = run_cli("train", "--arch", "vit_small_patch16", "--img-size", "32", "--init",
                str(mae_run / "best"), "--out", str(tmp_path / "x"), "--no-progress")
    assert r.returncode == 2 and "vit_tiny_patch16" in r.stderr


def test_layer_decay_scales():
    model = create_model("vit_tiny_patch16", 32, [0.5] * 3, [0.25] * 3)

    class Cfg:
        layer_decay = 0.5
    scale = lr_scales(Cfg, model)
    depth = len(model.backbone.blocks)
    assert scale("backbone.head.weight") == 1.0
    assert scale(f"backbone.blocks.{depth - 1}.mlp.fc1.weight") == 0.5
    assert scale("backbone.blocks.0.attn.qkv.weight") == 0.5 ** depth
    assert scale("backbone.patch_embed.proj.weight") == 0.5 ** (depth + 1)


class _Fixed(torch.nn.Module):
    """A 'model' that returns given logits whatever the input."""

    def __init__(self, logits, size=8):
        super().__init__()
        self.logits, self.input_size = logits, size

    def forward(self, x):
        return self.logits[:len(x)]


def test_distillation_loss_against_hand_computed_values():
    torch.manual_seed(0)
    t1, t2, s = torch.randn(4, 7), torch.randn(4, 7), torch.randn(4, 7, requires_grad=True)
    y = torch.tensor([0, 4, 4, 6])
    T = 3.0
    obj = DistillationObjective(DistEnv(), LiveTeachers([_Fixed(t1), _Fixed(t2)]), kd_weight=0.25,
                                temperature=T, hard=False)
    parts = obj(_Fixed(s), torch.rand(4, 3, 8, 8), y)
    p = (torch.softmax(t1 / T, 1) + torch.softmax(t2 / T, 1)) / 2
    kd = (p * (p.log() - torch.log_softmax(s / T, 1))).sum(1).mean() * T * T
    task = F.cross_entropy(s, y)
    assert torch.allclose(parts["kd_loss"], kd) and torch.allclose(parts["task_loss"], task)
    assert torch.allclose(parts["loss"], 0.75 * task + 0.25 * kd)
    obj.hard = True
    hard = obj(_Fixed(s), torch.rand(4, 3, 8, 8), y)["kd_loss"]
    assert torch.allclose(hard, F.cross_entropy(s, p.argmax(1)))


def test_distill_cli_trains_a_student(mae_run, tmp_path):
    run = tmp_path / "s"
    r = run_cli("distill", "--teacher", str(mae_run / "best"), "--img-size", "32", "--epochs",
                "1", "--max-batches", "2", "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    hist = json.loads((run / "metrics.json").read_text())["history"]
    assert {"train_task_loss", "train_kd_loss"} <= set(hist[0])
    assert np.isfinite(hist[0]["train_kd_loss"])
    r = run_cli("distill", "--img-size", "32", "--out", str(tmp_path / "n"), "--no-progress")
    assert r.returncode == 2 and "--teacher" in r.stderr


def test_cached_teacher_looks_up_rows_and_averages_views():
    z = torch.randn(5, 8, 7)
    T = 2.0
    got = CachedTeacher(z)(torch.rand(2, 3, 8, 8), torch.tensor([3, 1]), T)
    want = torch.stack([torch.softmax(z[r] / T, -1).mean(0) for r in (3, 1)])
    assert torch.allclose(got, want)
    with pytest.raises(ValueError, match="mixup"):
        DistillationObjective(DistEnv(), CachedTeacher(z), 0.5, T, False, mixup=0.2)


def test_teach_writes_labels_that_distill_reads(mae_run, tmp_path):
    from safetensors import safe_open

    from skinedge.checkpoint import load_checkpoint
    from skinedge.data import read_ham10000
    from skinedge.data.cache import cached_images
    from skinedge.layout import SAMPLE_DATA

    labels = tmp_path / "labels.safetensors"
    r = run_cli("teach", "--teacher", str(mae_run / "best"), "--out", str(labels),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "x 8 views" in r.stdout
    with safe_open(str(labels), "pt") as f:
        meta, z = json.loads(f.metadata()["skinedge"]), f.get_tensor("logits")
    assert z.shape == (len(meta["image_ids"]), 8, 7)
    # view 0 is the centre crop: the teacher's own logits on that image, computed here
    model, card = load_checkpoint(mae_run / "best")
    ds = read_ham10000(SAMPLE_DATA)
    i = next(k for k, rec in enumerate(ds.records) if rec.image_id == meta["image_ids"][0])
    x = torch.from_numpy(np.asarray(cached_images([ds.records[i]], card.input_size,
                                                  progress=False))).permute(0, 3, 1, 2) / 255.0
    with torch.no_grad():
        direct = model.eval()(x.float())[0]
    assert torch.allclose(z[0, 0].float(), direct, atol=2e-2)
    common = ["--img-size", "32", "--epochs", "1", "--max-batches", "2", "--no-progress"]
    r = run_cli("distill", "--teacher-labels", str(labels), "--split-file",
                str(mae_run / "split.json"), "--out", str(tmp_path / "s"), *common)
    assert r.returncode == 0, r.stderr
    hist = json.loads((tmp_path / "s" / "metrics.json").read_text())["history"]
    assert np.isfinite(hist[0]["train_kd_loss"]) and hist[0]["train_kd_loss"] > 0
    # the same labels against another split, both teacher kinds, mixup: refused, nothing written
    for extra, message in ((["--seed", "5"], "another split"),
                           (["--teacher", str(mae_run / "best")], "not both"),
                           (["--split-file", str(mae_run / "split.json"), "--mixup", "0.2"],
                            "mixup")):
        out = tmp_path / f"bad{len(extra)}{message[:3]}"
        r = run_cli("distill", "--teacher-labels", str(labels), "--out", str(out), *common,
                    *extra)
        assert r.returncode == 2 and message in r.stderr, (extra, r.stderr)
        assert not (out / "best").exists()
    # a truncated labels file is refused before the run folder is made
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(labels.read_bytes()[:1000])
    r = run_cli("distill", "--teacher-labels", str(cut), "--out", str(tmp_path / "cut"), *common)
    assert r.returncode == 2 and f"--teacher-labels {cut}: not a teacher-labels file" in r.stderr
    assert not (tmp_path / "cut").exists()


class _Recorder(torch.nn.Module):
    """Returns fixed logits and keeps every input it was given."""

    def __init__(self, logits, size):
        super().__init__()
        self.logits, self.input_size, self.seen = logits, size, []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.logits[:len(x)]


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_teacher_scores_the_students_exact_augmented_batch(mixup):
    """Consistent teaching: the teacher sees the very tensor the student sees (after mixup),
    and a teacher at another input size sees that tensor resized, nothing else."""
    torch.manual_seed(0)
    np.random.seed(0)
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    same, small = _Recorder(torch.randn(4, 7), 16), _Recorder(torch.randn(4, 7), 8)
    student = _Recorder(torch.randn(4, 7, requires_grad=True), 16)
    obj = DistillationObjective(DistEnv(), LiveTeachers([same, small]), 0.5, 2.0, False,
                                mixup=mixup)
    obj(student, x, y)
    (seen,) = student.seen
    assert torch.equal(same.seen[0], seen)
    assert mixup == 0.0 or not torch.equal(seen, x)  # the mixed batch, not the clean one
    want = F.interpolate(seen, size=(8, 8), mode="bilinear", antialias=True, align_corners=False)
    assert torch.equal(small.seen[0], want)


def test_killed_distillation_resumes_to_the_same_weights(mae_run, tmp_path):
    """kill -9 after an epoch, rerun: the same weights, bit for bit, as an uninterrupted run,
    with every source of randomness on (dropout, mixup, cutmix)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["distill", "--teacher", str(mae_run / "best"), "--img-size", "32", "--epochs", "2",
            "--batch-size", "16", "--max-batches", "3", "--no-progress", "--seed", "1",
            "--drop-rate", "0.3", "--mixup", "0.4", "--cutmix", "1.0"]
    straight = tmp_path / "straight"
    r = run_cli(*args, "--out", str(straight))
    assert r.returncode == 0, r.stderr
    run = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "skinedge.cli", *args, "--out", str(run)],
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "last" / "trainer_state.json"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "distillation finished before it could be killed"
    assert json.loads(state.read_text())["epoch"] == 1
    r = run_cli(*args, "--out", str(run))
    assert r.returncode == 0, r.stderr
    hist = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert all(np.isfinite(h["train_kd_loss"]) for h in hist)
    a = load_file(str(straight / "last" / "model.safetensors"))
    b = load_file(str(run / "last" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)


def test_bad_pretrained_runs_and_teachers_are_refused(mae_run, tmp_path):
    """Missing, unfinished, tampered or other-label checkpoints as --init / --teacher: one
    clear line naming the folder, a non-zero exit, no student or teacher written."""
    import shutil

    from skinedge.checkpoint import load_checkpoint, save_checkpoint

    def copy(name):
        dest = tmp_path / name
        shutil.copytree(mae_run, dest)
        return dest

    unfinished = copy("unfinished")
    state = unfinished / "last" / "trainer_state.json"
    doc = json.loads(state.read_text())
    doc["epoch"] = json.loads((unfinished / "config.json").read_text())["epochs"] - 1
    state.write_text(json.dumps(doc))
    tampered = copy("tampered")
    weights = tampered / "best" / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0x01
    weights.write_bytes(bytes(raw))
    model, card = load_checkpoint(mae_run / "best")
    relabelled = tmp_path / "relabelled"
    save_checkpoint(relabelled, model, card.with_(labels=tuple(reversed(card.labels))))

    vit = ["--arch", "vit_tiny_patch16", "--img-size", "32", "--epochs", "1", "--max-batches", "1",
           "--no-progress"]
    cases = [
        (["train", *vit, "--init", str(tmp_path / "missing" / "best")], "missing", "not found"),
        (["train", *vit, "--init", str(unfinished / "best")], "unfinished", "unfinished"),
        (["train", *vit, "--init", str(tampered / "best")], "tampered", "sha256"),
        (["distill", "--img-size", "32", "--epochs", "1", "--no-progress", "--teacher",
          str(unfinished / "best")], "unfinished", "unfinished"),
        (["distill", "--img-size", "32", "--epochs", "1", "--no-progress", "--teacher",
          str(tampered / "best")], "tampered", "sha256"),
        (["distill", "--img-size", "32", "--epochs", "1", "--no-progress", "--teacher",
          str(relabelled)], "relabelled", "labels vasc, nv"),
        (["teach", "--teacher", str(relabelled), "--split-file", str(mae_run / "split.json"),
          "--no-progress"], "relabelled", "labels vasc"),
        (["distill", "--img-size", "32", "--epochs", "1", "--no-progress", "--teacher",
          str(weights)], "model.safetensors", "a file, not a checkpoint folder"),
    ]
    for i, (args, names, says) in enumerate(cases):
        out = tmp_path / f"out{i}"
        if args[0] == "teach":
            out = out.with_suffix(".safetensors")
        r = run_cli(*args, "--out", str(out))
        assert r.returncode != 0 and names in r.stderr and says in r.stderr.lower(), (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3, r.stderr
        assert not out.exists(), args
    # a time-budgeted stage takes an unfinished run's best epoch on purpose
    r = run_cli("train", *vit, "--init", str(unfinished / "best"), "--allow-unfinished",
                "--out", str(tmp_path / "early"))
    assert r.returncode == 0, r.stderr
