"""Checkpoints: safetensors + card, round trip, tamper and mismatch errors; a pickle disguised
as a checkpoint file is refused by every loader without being run."""
import hashlib
import io
import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from helpers import run_cli

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.card import SEALED_ERA_FIELDS, ModelCard
from skinedge.checkpoint import WEIGHTS, load_checkpoint, save_checkpoint
from skinedge.errors import CheckpointError, ConfigError, SkinedgeError
from skinedge.models import create_model
from skinedge.models.classifier import count_flops

MEAN, STD = (0.7, 0.55, 0.6), (0.15, 0.16, 0.17)


def _model_and_card(name="mobilenetv4_conv_small", size=64):
    torch.manual_seed(0)
    m = create_model(name, size, MEAN, STD).eval()
    torch.nn.init.normal_(m.backbone.get_classifier().weight, std=0.05)  # heads start at zero
    card = ModelCard(architecture=name, input_size=size, mean=MEAN, std=STD,
                     params=sum(p.numel() for p in m.parameters()), flops=count_flops(m, size))
    return m, card


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_round_trip_gives_same_outputs(tmp_path, dtype):
    model, card = _model_and_card()
    written = save_checkpoint(tmp_path / "ck", model, card, dtype=dtype)
    assert written.weights_dtype == str(dtype).removeprefix("torch.")
    loaded, card2 = load_checkpoint(tmp_path / "ck")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = loaded(x), model(x)
    if dtype == torch.float32:
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    else:  # fp16 storage rounds each weight: outputs stay aligned, not equal
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0) > 0.999
    assert card2.labels == card.labels and card2.mean == MEAN
    assert card2.artifact_sha256 == written.artifact_sha256


def test_weights_that_do_not_match_the_card_are_refused(tmp_path):
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card)
    other, _ = _model_and_card("efficientnet_b0")
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "ck" / WEIGHTS))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "ck")
    # With the hashes taken out of an old card, the architecture check still catches it.
    doc = json.loads((tmp_path / "ck" / "card.json").read_text())
    doc["artifact_sha256"] = doc["integrity_sha256"] = ""
    for newer in SEALED_ERA_FIELDS:  # none in an old card
        doc.pop(newer, None)
    doc["software"]["skinedge"] = "0.1.0"
    (tmp_path / "ck" / "card.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="do not match the card's architecture"):
        load_checkpoint(tmp_path / "ck")


def test_missing_or_malformed_card_is_a_clear_error(tmp_path):
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card)
    (tmp_path / "ck" / "card.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="card.json"):
        load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck" / "card.json").unlink()
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "ck")


class _Payload:
    """Unpickling this creates the folder ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _malicious(kind: str, marker: Path) -> bytes:
    """A pickle that runs code on load, as ``torch.save`` writes it or as a bare pickle."""
    payload = {"backbone.conv_stem.weight": _Payload(marker)}
    if kind == "torch.save":
        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf.getvalue()
    return pickle.dumps(payload, protocol=2)


def _unpickle_anyway(data: bytes) -> None:
    if data[:2] == b"PK":  # torch.save's zip container
        torch.load(io.BytesIO(data), weights_only=False)
    else:
        pickle.loads(data)


def _disguise(path: Path, data: bytes, card: Path | None = None) -> None:
    """Put ``data`` at ``path``; with ``card``, also give the card the file's sha256, as an
    attacker who can replace the weights can edit the JSON card too."""
    path.write_bytes(data)
    if card is not None:
        doc = json.loads(card.read_text())
        doc["artifact_sha256"] = hashlib.sha256(data).hexdigest()
        card.write_text(json.dumps(doc))


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
@pytest.mark.parametrize("card_updated", [True, False])
def test_a_malicious_pickle_as_weights_is_never_unpickled(tmp_path, kind, card_updated):
    model, card = _model_and_card()
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, card)
    marker = tmp_path / "pwned"
    data = _malicious(kind, marker)
    _disguise(ck / WEIGHTS, data, ck / "card.json" if card_updated else None)
    for load in (load_checkpoint, skinedge.load):
        with pytest.raises(CheckpointError) as err:
            load(ck)
        assert str(ck / WEIGHTS) in str(err.value), load
        assert not marker.exists(), f"{load.__name__} unpickled the weights"
    # The payload is live: unpickled, it does create the marker.
    _unpickle_anyway(data)
    assert marker.is_dir()


def test_a_malicious_pickle_on_the_cli_is_an_error_not_code(tmp_path):
    model, card = _model_and_card()
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, card)
    marker = tmp_path / "pwned"
    _disguise(ck / WEIGHTS, _malicious("torch.save", marker), ck / "card.json")
    img = min((SAMPLE_DATA / "images").iterdir())
    r = run_cli("predict", str(img), "--model", str(ck))
    assert r.returncode == 2 and str(ck / WEIGHTS) in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and not marker.exists()


def test_a_pickle_as_the_card_is_a_checkpoint_error(tmp_path):
    model, card = _model_and_card()
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, card)
    marker = tmp_path / "pwned"
    (ck / "card.json").write_bytes(_malicious("pickle", marker))
    try:
        with pytest.raises(CheckpointError, match="card.json"):
            load_checkpoint(ck)
    finally:
        assert not marker.exists()


@pytest.mark.parametrize("name", [
    "optimizer.safetensors", "model.safetensors"])
def test_resuming_a_run_with_a_malicious_pickle_is_refused(small_model, tmp_path, name):
    from skinedge.train import TrainConfig, train

    run = tmp_path / "run"
    shutil.copytree(small_model.parent, run)
    marker = tmp_path / "pwned"
    _disguise(run / "last" / name, _malicious("torch.save", marker),
              run / "last" / "card.json" if name == WEIGHTS else None)
    saved = json.loads((run / "config.json").read_text())
    cfg = TrainConfig.from_dict({**saved, "out": str(run), "epochs": saved["epochs"] + 1})
    try:
        with pytest.raises(SkinedgeError, match=re.escape(str(run / "last" / name))):
            train(cfg)
    finally:
        assert not marker.exists()
    state = json.loads((run / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == saved["epochs"]  # nothing was trained on top


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'.*mobilenetv4_conv_small"):
        create_model("resnet9000", 64, MEAN, STD)


def test_flop_count_matches_hand_count_for_a_tiny_model():
    from skinedge.models.classifier import SkinClassifier
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 16 * 16, 7, bias=False))
    flops = count_flops(SkinClassifier(net, MEAN, STD), 16)
    assert flops == 2 * (16 * 16 * 8 * 3 * 9) + 2 * (8 * 16 * 16 * 7)
