"""Checkpoints: safetensors + card, round trip, tamper and mismatch errors."""
import json

import pytest
import torch

from skinedge.card import ModelCard
from skinedge.checkpoint import WEIGHTS, load_checkpoint, save_checkpoint
from skinedge.errors import CheckpointError, ConfigError
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
    # With the sha updated, the architecture check still catches it.
    doc = json.loads((tmp_path / "ck" / "card.json").read_text())
    doc["artifact_sha256"] = ""
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


def test_a_pickle_renamed_as_weights_is_not_executed(tmp_path):
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card)
    torch.save({"x": torch.zeros(1)}, tmp_path / "ck" / WEIGHTS)  # a pickle-based file
    doc = json.loads((tmp_path / "ck" / "card.json").read_text())
    doc["artifact_sha256"] = ""
    (tmp_path / "ck" / "card.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(tmp_path / "ck")


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'.*mobilenetv4_conv_small"):
        create_model("resnet9000", 64, MEAN, STD)


def test_flop_count_matches_hand_count_for_a_tiny_model():
    from skinedge.models.classifier import SkinClassifier
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 16 * 16, 7, bias=False))
    flops = count_flops(SkinClassifier(net, MEAN, STD), 16)
    assert flops == 2 * (16 * 16 * 8 * 3 * 9) + 2 * (8 * 16 * 16 * 7)
