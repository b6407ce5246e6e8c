"""Real training on the shipped sample: a short run, resume after a kill, and DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import run_cli, torchrun
from safetensors.torch import load_file

from skinedge.api import SAMPLE_DATA

COMMON = ["--img-size", "64", "--batch-size", "32", "--no-progress", "--seed", "1"]


_cli = run_cli


def _weights(run: Path, which="last"):
    return load_file(str(run / which / "model.safetensors"))


def test_short_training_run_writes_everything(tmp_path):
    run = tmp_path / "run"
    r = _cli("train", "--out", str(run), "--epochs", "2", *COMMON)
    assert r.returncode == 0, r.stderr
    for name in ("config.json", "split.json", "metrics.json", "training_curves.png",
                 "confusion_test.png", "best/model.safetensors", "best/card.json",
                 "best/split.json", "last/optimizer.safetensors"):
        assert (run / name).is_file(), name
    m = json.loads((run / "metrics.json").read_text())
    assert len(m["history"]) == 2
    assert m["test"]["n"] > 0 and 0 <= m["test"]["balanced_accuracy"] <= 1
    card = json.loads((run / "best" / "card.json").read_text())
    assert card["labels"] == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert card["training"]["split_fingerprint"] and card["flops"] > 0
    # the training loss went down over real data
    assert m["history"][1]["train_loss"] < m["history"][0]["train_loss"]
    # eval of the checkpoint on its test split reproduces the recorded test metrics
    e = _cli("eval", str(run / "best"), "--split", "test", "--json",
             "--plot", str(tmp_path / "cm.png"))
    assert e.returncode == 0, e.stderr
    got = json.loads(e.stdout)
    assert got["n"] == m["test"]["n"]
    assert got["balanced_accuracy"] == pytest.approx(m["test"]["balanced_accuracy"])
    assert (tmp_path / "cm.png").is_file()


def test_killed_run_resumes_to_the_same_result(tmp_path):
    args = ["--epochs", "3", *COMMON]
    straight = tmp_path / "straight"
    assert _cli("train", "--out", str(straight), *args).returncode == 0

    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "skinedge.cli", "train", "--out", str(run), *args],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "last" / "trainer_state.json"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
            p.send_signal(signal.SIGKILL)  # no chance to clean up: worst case
            break
        time.sleep(0.02)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "training finished before it could be killed"
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 3
    r = _cli("train", "--out", str(run), *args)
    assert r.returncode == 0, r.stderr
    hist = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    a, b = _weights(straight), _weights(run)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
    assert not list(run.glob(".*tmp*")), "a temporary folder was left behind"


def test_resume_with_other_options_is_refused(tmp_path):
    run = tmp_path / "run"
    assert _cli("train", "--out", str(run), "--epochs", "1", *COMMON).returncode == 0
    r = _cli("train", "--out", str(run), "--epochs", "2", *COMMON[:-2], "--seed", "9")
    assert r.returncode == 2 and "different configuration" in r.stderr


def test_ddp_two_processes_match_one_process(tmp_path):
    args = ["train", "--epochs", "1", "--max-batches", "3", *COMMON]
    one = tmp_path / "one"
    assert _cli(*args, "--out", str(one)).returncode == 0
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = torchrun(2, *args, "--out", str(two), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ha = json.loads((one / "metrics.json").read_text())["history"][0]
    hb = json.loads((two / "metrics.json").read_text())["history"][0]
    # Same global batches, same augmentations, batch norm over the global batch: the runs
    # differ only by float summation order. (Weights are not compared element-wise: Adam's
    # first steps are ~lr*sign(grad), so a near-zero gradient may flip either way.)
    assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-4)
    assert ha["val_loss"] == pytest.approx(hb["val_loss"], rel=2e-3)


def test_bad_data_fails_before_training(tmp_path):
    r = _cli("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *COMMON)
    assert r.returncode == 2
    assert "HAM10000_metadata.csv" in r.stderr and str(tmp_path) in r.stderr
    assert not (tmp_path / "run" / "last").exists()


def test_unknown_model_is_rejected_by_the_cli(tmp_path):
    r = _cli("train", "--arch", "resnet9000", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "resnet9000" in r.stderr


def test_sample_data_is_attributed():
    text = (SAMPLE_DATA / "README.md").read_text()
    assert "CC BY-NC 4.0" in text and "Tschandl" in text
