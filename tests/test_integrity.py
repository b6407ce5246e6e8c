"""Integrity end to end (issue 11): one hash covers the card and the weights or graph of every
checkpoint and artifact, checked on every load; an embedded card and its sidecar agree; old
artifacts load with one warning; card fields are type- and range-checked; an empty or
truncated artifact is called so. Each case here was a silent wrong result or a misleading
message before."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from helpers import run_cli

import skinedge
from skinedge.api import SAMPLE_DATA
from skinedge.card import SEALED_ERA_FIELDS, ModelCard
from skinedge.checkpoint import CARD, WEIGHTS, load_checkpoint, save_checkpoint
from skinedge.errors import CheckpointError
from skinedge.models import create_model
from skinedge.models.classifier import count_flops
from skinedge.recipes import Recipe
from skinedge.targets import TARGETS

MEAN, STD = (0.7, 0.55, 0.6), (0.15, 0.16, 0.17)
SIZE = 64
IMAGE = str(min((SAMPLE_DATA / "images").iterdir()))


def _model_and_card():
    torch.manual_seed(0)
    m = create_model("mobilenetv4_conv_small", SIZE, MEAN, STD).eval()
    torch.nn.init.normal_(m.backbone.get_classifier().weight, std=0.05)  # heads start at zero
    card = ModelCard(architecture="mobilenetv4_conv_small", input_size=SIZE, mean=MEAN, std=STD,
                     params=sum(p.numel() for p in m.parameters()), flops=count_flops(m, SIZE))
    return m, card


def _swap_mel_akiec(doc: dict) -> dict:
    """The probe's edit: melanoma and actinic keratosis trade places, names too."""
    labels, names = list(doc["labels"]), list(doc["label_names"])
    i, j = labels.index("mel"), labels.index("akiec")
    labels[i], labels[j] = labels[j], labels[i]
    names[i], names[j] = names[j], names[i]
    return {**doc, "labels": labels, "label_names": names}


def _rewrite_json(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text())), indent=2, sort_keys=True) + "\n")


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model, card = _model_and_card()
    save_checkpoint(tmp_path / "ck", model, card)
    return tmp_path / "ck"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """fp32 .onnx, .pte (+ sidecar) and .mlpackage of one small random model, written by the
    target modules' own export (no parity run): {target name: path}."""
    out = tmp_path_factory.mktemp("integrity_artifacts")
    model, card = _model_and_card()
    paths = {}
    for name, file in (("onnx", "m.onnx"), ("executorch", "m.pte"), ("coreml", "m.mlpackage")):
        module = TARGETS[name].load_module()
        module.export(model, card, out / file, Recipe(f"{name}-fp32", name, "fp32"), None)
        paths[name] = out / file
    return paths


def _copy(src: Path, dest_dir: Path, with_sidecar: bool = True) -> Path:
    dest = dest_dir / src.name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)
    side = src.with_name(src.stem + ".card.json")
    if with_sidecar and side.is_file():
        shutil.copy(side, dest_dir / side.name)
    return dest


def _onnx_card_edit(path: Path, edit) -> None:
    import onnx

    m = onnx.load(str(path))
    for p in m.metadata_props:
        if p.key == "skinedge.model_card":
            p.value = json.dumps(edit(json.loads(p.value)), indent=2, sort_keys=True)
    onnx.save(m, str(path))


# -- tampered cards -------------------------------------------------------------------------

def test_swapped_labels_in_a_checkpoint_card_are_refused(checkpoint):
    _rewrite_json(checkpoint / CARD, _swap_mel_akiec)
    for load in (load_checkpoint, skinedge.load):
        with pytest.raises(CheckpointError, match="card.json"):
            load(checkpoint)
    with pytest.raises(CheckpointError, match="sha256"):
        TARGETS["eager"].load_module().read_card(checkpoint)


@pytest.mark.parametrize("edit", [
    {"input_size": 96}, {"mean": [0.5, 0.5, 0.5]}, {"views": 8}, {"quantization": "fp16"},
    {"label_names": ["a", "b", "c", "d", "e", "f", "g"]}])
def test_every_decisive_card_field_of_a_checkpoint_is_covered(checkpoint, edit):
    _rewrite_json(checkpoint / CARD, lambda d: {**d, **edit})
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(checkpoint)


def test_swapped_labels_in_onnx_metadata_are_refused(artifacts, tmp_path):
    path = _copy(artifacts["onnx"], tmp_path)
    skinedge.load(path)  # the copy itself is fine
    _onnx_card_edit(path, _swap_mel_akiec)
    with pytest.raises(CheckpointError, match="sha256"):
        skinedge.load(path)


def test_swapped_labels_in_a_pte_sidecar_are_refused(artifacts, tmp_path):
    path = _copy(artifacts["executorch"], tmp_path)
    side = path.with_name("m.card.json")
    assert side.is_file()
    skinedge.load(path)
    _rewrite_json(side, _swap_mel_akiec)
    with pytest.raises(CheckpointError, match="m.card.json"):
        skinedge.load(path)


def test_a_pte_sidecar_of_another_export_is_refused(artifacts, tmp_path):
    """The sidecar's hash must be the .pte's, and its card must be the embedded one."""
    path = _copy(artifacts["executorch"], tmp_path)
    _rewrite_json(path.with_name("m.card.json"), lambda d: {**d, "metrics": {"test": "claimed"}})
    with pytest.raises(CheckpointError, match="m.card.json"):
        skinedge.load(path)


def _flip(path: Path, where: float, mask: int = 0xFF) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i:i + 16] = bytes(b ^ mask for b in data[i:i + 16])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where, mask", [(0.3, 0xFF), (0.5, 0x80), (0.7, 0x80), (0.9, 0x01)])
def test_a_corrupted_pte_without_its_sidecar_is_refused(artifacts, tmp_path, where, mask):
    path = _copy(artifacts["executorch"], tmp_path, with_sidecar=False)
    skinedge.load(path)
    _flip(path, where, mask)
    with pytest.raises(CheckpointError, match=r"sha256|corrupt"):
        skinedge.load(path)


def test_an_edited_embedded_card_without_its_sidecar_is_refused(artifacts, tmp_path):
    path = _copy(artifacts["executorch"], tmp_path, with_sidecar=False)
    data = path.read_bytes()
    order = b'"bcc",\n    "bkl"'
    assert data.count(order) == 1
    path.write_bytes(data.replace(order, b'"bkl",\n    "bcc"'))
    with pytest.raises(CheckpointError, match="sha256"):
        skinedge.load(path)


def test_swapped_labels_in_coreml_metadata_are_refused(artifacts, tmp_path):
    path = _copy(artifacts["coreml"], tmp_path)
    module = TARGETS["coreml"].load_module()
    module.read_card(path)
    spec = next(p for p in path.rglob("*.mlmodel"))
    data = spec.read_bytes()
    order = b'"bcc",\n    "bkl"'
    assert data.count(order) == 1
    spec.write_bytes(data.replace(order, b'"bkl",\n    "bcc"'))
    with pytest.raises(CheckpointError, match="sha256"):
        module.read_card(path)
    assert module.verify_structure(path)


def _tampered(kind: str, artifacts, tmp_path) -> Path:
    if kind == "checkpoint":
        model, card = _model_and_card()
        save_checkpoint(tmp_path / "ck", model, card)
        _rewrite_json(tmp_path / "ck" / CARD, _swap_mel_akiec)
        return tmp_path / "ck"
    path = _copy(artifacts[kind], tmp_path)
    if kind == "onnx":
        _onnx_card_edit(path, _swap_mel_akiec)
    else:
        _rewrite_json(path.with_name("m.card.json"), _swap_mel_akiec)
    return path


@pytest.mark.parametrize("kind", ["checkpoint", "onnx", "executorch"])
def test_predict_and_inspect_refuse_a_tampered_card(kind, artifacts, tmp_path):
    path = _tampered(kind, artifacts, tmp_path)
    r = run_cli("predict", IMAGE, "--model", str(path))
    assert r.returncode == 2 and "sha256" in r.stderr, (r.stdout, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "mel" not in r.stdout
    r = run_cli("inspect", str(path))
    assert r.returncode == 1, (r.stdout, r.stderr[-2000:])
    assert "sha256        FAILED" in r.stdout and "Traceback" not in r.stderr


def test_inspect_reports_the_integrity_verdict(artifacts):
    r = run_cli("inspect", str(artifacts["onnx"]))
    assert r.returncode == 0, r.stderr[-2000:]
    card = TARGETS["onnx"].load_module().read_card(artifacts["onnx"])
    assert "sha256        ok" in r.stdout and card.integrity_sha256[:12] in r.stdout


# -- artifacts and checkpoints from before the integrity hash ---------------------------------

def _legacy(doc: dict) -> dict:
    """A card as skinedge 0.1 wrote it before integrity hashes: no integrity_sha256 and none of
    the fields that came after it (a card that has one had its hash removed)."""
    old = {k: v for k, v in doc.items() if k != "integrity_sha256" and k not in SEALED_ERA_FIELDS}
    return {**old, "software": {**doc.get("software", {}), "skinedge": "0.1.0"}}


def test_a_checkpoint_from_before_the_hash_loads_with_one_warning(checkpoint, capfd):
    _rewrite_json(checkpoint / CARD, _legacy)
    for _ in range(2):
        load_checkpoint(checkpoint)
        skinedge.load(checkpoint)
    err = capfd.readouterr().err
    assert err.count("warning") == 1 and str(checkpoint) in err and "integrity" in err, err
    # the weights' own sha256 is still checked
    _rewrite_json(checkpoint / CARD, lambda d: {**d, "artifact_sha256": "0" * 64})
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(checkpoint)


def test_an_onnx_from_before_the_hash_loads_with_one_warning(artifacts, tmp_path, capfd):
    import onnx

    from skinedge.targets.onnx import _content_sha

    path = _copy(artifacts["onnx"], tmp_path)
    _onnx_card_edit(path, _legacy)
    m = onnx.load(str(path))
    _onnx_card_edit(path, lambda d: {**d, "artifact_sha256": _content_sha(m)})
    skinedge.load(path)
    skinedge.load(path)
    err = capfd.readouterr().err
    assert err.count("warning") == 1 and str(path) in err, err


@pytest.fixture(scope="module")
def legacy_pte(tmp_path_factory) -> Path:
    """A .pte as exports wrote them before the integrity hash: the embedded card without
    ``integrity_sha256``, the sidecar adding the file's sha256."""
    from executorch import exir
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    from skinedge.card import sha256_file

    out = tmp_path_factory.mktemp("legacy_pte") / "old.pte"
    model, card = _model_and_card()
    inner = _legacy(card.with_(format="executorch", artifact_file=out.name,
                               artifact_hash_scope="see sidecar card").to_dict())
    text = json.dumps(inner, indent=2, sort_keys=True)
    blob = torch.tensor(list(text.encode()), dtype=torch.uint8)
    ep = torch.export.export(model, (torch.rand(2, 3, SIZE, SIZE),))
    edge = exir.to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()],
                                            constant_methods={"model_card": blob})
    out.write_bytes(edge.to_executorch().buffer)
    side = {**inner, "artifact_sha256": sha256_file(out), "artifact_hash_scope": "file"}
    out.with_name("old.card.json").write_text(json.dumps(side, indent=2, sort_keys=True))
    return out


def test_a_pte_from_before_the_hash_loads_with_one_warning(legacy_pte, tmp_path, capfd):
    path = _copy(legacy_pte, tmp_path)
    skinedge.load(path)
    skinedge.load(path)
    err = capfd.readouterr().err
    assert err.count("warning") == 1 and str(path) in err, err


def test_an_old_pte_whose_sidecar_disagrees_with_its_embedded_card_is_refused(legacy_pte, tmp_path):
    path = _copy(legacy_pte, tmp_path)
    _rewrite_json(path.with_name("old.card.json"), _swap_mel_akiec)
    with pytest.raises(CheckpointError, match="old.card.json"):
        skinedge.load(path)


# -- what writes cards writes the new format --------------------------------------------------

def test_the_shipped_model_carries_the_integrity_hash(default_model, capfd):
    card = json.loads((default_model / CARD).read_text())
    assert len(card.get("integrity_sha256", "")) == 64
    load_checkpoint(default_model)
    assert "warning" not in capfd.readouterr().err


def test_release_writes_a_sealed_checkpoint(small_model, tmp_path, capfd):
    from skinedge.release import release

    release(small_model.parent, SAMPLE_DATA, tmp_path / "shipped")
    capfd.readouterr()
    _, card = load_checkpoint(tmp_path / "shipped")
    assert len(card.integrity_sha256) == 64 and card.weights_dtype == "float16"
    assert "warning" not in capfd.readouterr().err
    _rewrite_json(tmp_path / "shipped" / CARD, _swap_mel_akiec)
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "shipped")


# -- card fields are type- and range-checked --------------------------------------------------

@pytest.mark.parametrize("field, value, why", [
    ("labels", ["akiec", "akiec", "bkl", "df", "mel", "nv", "vasc"], "duplicate"),
    ("labels", "akiec,bcc,bkl,df,mel,nv,vasc", "list"),
    ("labels", ["akiec", "bcc", "bkl", "df", "mel", "nv", 7], "string"),
    ("labels", ["akiec"], "at least 2"),
    ("label_names", ["Actinic"], "one per label"),
    ("input_size", "128", "integer"),
    ("input_size", True, "integer"),
    ("input_size", 0, "from"),
    ("input_size", 100000, "from"),
    ("mean", ["a", 0.5, 0.5], "number"),
    ("mean", [0.5, 0.5], "three"),
    ("mean", [math.nan, 0.5, 0.5], "number"),
    ("std", [0.0, 0.1, 0.1], "std"),
    ("std", None, "three"),
    ("value_range", [0, 255], "value_range"),
    ("color_order", "BGR", "RGB"),
    ("views", 0, "views"),
    ("params", -5, "params"),
    ("flops", 1.5, "integer"),
    ("training", "HAM10000", "object"),
    ("architecture", "", "architecture"),
    ("integrity_sha256", "abc", "64 hex"),
])
def test_card_fields_are_type_and_range_checked(tmp_path, field, value, why):
    _, card = _model_and_card()
    path = tmp_path / "card.json"
    doc = {**card.to_dict(), field: value}
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError) as err:
        ModelCard.load(path)
    msg = str(err.value)
    assert str(path) in msg and f"'{field}'" in msg and why in msg, msg


def test_a_card_with_duplicate_labels_is_one_line_on_the_cli(checkpoint):
    _rewrite_json(checkpoint / CARD, lambda d: {**d, "labels": ["mel"] * 7})
    for cmd in (("inspect", str(checkpoint)), ("predict", IMAGE, "--model", str(checkpoint))):
        r = run_cli(*cmd)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert "card.json" in r.stderr and "duplicate label 'mel'" in r.stderr, r.stderr


# -- empty and truncated artifacts ------------------------------------------------------------

@pytest.mark.parametrize("target", ["onnx", "executorch"])
@pytest.mark.parametrize("keep", [0.0, 0.5, 0.97])
def test_an_empty_or_truncated_artifact_is_called_so(artifacts, tmp_path, target, keep):
    src = artifacts[target]
    path = tmp_path / src.name
    data = src.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError) as err:
        skinedge.load(path)
    msg = str(err.value)
    assert str(path) in msg and "no model card" not in msg and "no skinedge model card" not in msg
    assert ("empty" if keep == 0 else "truncated") in msg, msg


def test_a_zero_byte_onnx_on_the_cli(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    for cmd in (("inspect", str(path)), ("predict", IMAGE, "--model", str(path))):
        r = run_cli(*cmd)
        assert r.returncode == 2 and "empty" in r.stderr and "model card" not in r.stderr, r.stderr


# -- the hash itself --------------------------------------------------------------------------

@pytest.mark.parametrize("at", [0, 1, (4 << 20) - 64, (4 << 20) - 63, (4 << 20) - 1, 4 << 20,
                                (8 << 20) - 32])
def test_a_file_is_hashed_in_chunks_exactly_as_the_definition_says(tmp_path, at):
    """The streamed hash (weights can be gigabytes) equals sha256 of the bytes with every
    occurrence of the digest read as zeros, also where one straddles a chunk boundary."""
    import hashlib
    import random

    from skinedge.card import PLACEHOLDER, integrity_digest, integrity_sha

    digest = hashlib.sha256(b"x").hexdigest()
    data = bytearray(random.Random(at).randbytes((8 << 20) + 100))
    for i in (at, len(data) - 64, 100):
        data[i:i + 64] = digest.encode()
    path = tmp_path / "blob"
    path.write_bytes(bytes(data))
    want = hashlib.sha256(bytes(data).replace(digest.encode(), PLACEHOLDER.encode())).hexdigest()
    assert integrity_digest(path, digest) == integrity_sha(bytes(data), digest) == want
    assert integrity_digest(path, digest) != hashlib.sha256(bytes(data)).hexdigest()


# -- probe campaign, second round ------------------------------------------------------------

def _one_line(r) -> str:
    """The CLI's stderr, asserted to be one line and no traceback."""
    err = r.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err[-3000:]
    return err


def _strip_and_swap(doc: dict) -> dict:
    return {k: v for k, v in _swap_mel_akiec(doc).items() if k != "integrity_sha256"}


@pytest.mark.parametrize("kind", ["checkpoint", "onnx"])
def test_a_card_whose_hash_was_removed_is_refused_not_loaded_as_an_old_one(kind, artifacts,
                                                                            tmp_path):
    # Probe: mel/akiec swapped and integrity_sha256 deleted loaded as a card from before the
    # hash, with a warning, and predicted the swapped label (exit 0).
    if kind == "checkpoint":
        path = _tampered("checkpoint", artifacts, tmp_path)  # swapped
        _rewrite_json(path / CARD, lambda d: {k: v for k, v in d.items()
                                              if k != "integrity_sha256"})
    else:
        path = _copy(artifacts["onnx"], tmp_path)
        _onnx_card_edit(path, _strip_and_swap)
    with pytest.raises(CheckpointError, match=r"no integrity_sha256, but .*'calibration'"):
        skinedge.load(path)
    r = run_cli("predict", IMAGE, "--model", str(path))
    assert r.returncode == 2 and "mel" not in r.stdout, (r.stdout, r.stderr[-2000:])
    assert path.name in _one_line(r) and "integrity_sha256" in r.stderr


def test_a_pte_whose_embedded_hash_was_renamed_away_is_refused(artifacts, tmp_path):
    """The same without a sidecar: the key renamed in place (same length, nothing moves)."""
    path = _copy(artifacts["executorch"], tmp_path, with_sidecar=False)
    data = path.read_bytes()
    assert data.count(b'"integrity_sha256"') == 1
    path.write_bytes(data.replace(b'"integrity_sha256"', b'"x_tegrity_sha256"'))
    with pytest.raises(CheckpointError, match="no integrity_sha256"):
        skinedge.load(path)


@pytest.mark.parametrize("version, refused", [("0.2.0", True), ("1.0", True), ("0.1.0", False)])
def test_a_card_from_a_version_that_seals_must_carry_its_hash(checkpoint, capfd, version,
                                                               refused):
    """An old-looking card (no trust fields) is refused when it names a writer that seals."""
    _rewrite_json(checkpoint / CARD, lambda d: {**_legacy(d), "software": {"skinedge": version}})
    if refused:
        with pytest.raises(CheckpointError, match=f"written by skinedge {version}"):
            skinedge.load(checkpoint)
    else:
        skinedge.load(checkpoint)
        assert "written before integrity hashes" in capfd.readouterr().err


def test_an_old_onnx_card_whose_input_size_was_edited_is_refused(artifacts, tmp_path):
    # Probe: integrity removed and input_size edited ended in an onnxruntime traceback.
    import onnx

    from skinedge.targets.onnx import _content_sha

    path = _copy(artifacts["onnx"], tmp_path)
    sha = _content_sha(onnx.load(str(path)))
    _onnx_card_edit(path, lambda d: {**_legacy(d), "artifact_sha256": sha, "input_size": 32})
    with pytest.raises(CheckpointError, match=f"input 32 px.*{SIZE}"):
        skinedge.load(path)


def test_an_onnx_card_that_is_not_utf8_is_one_clear_error(artifacts, tmp_path):
    # Probe: a card byte made invalid UTF-8 ended in a UnicodeDecodeError traceback.
    path = _copy(artifacts["onnx"], tmp_path)
    data = bytearray(path.read_bytes())
    data[data.find(b'"architecture"') + 20] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="not valid UTF-8"):
        skinedge.load(path)
    for cmd in (("inspect", str(path)), ("predict", IMAGE, "--model", str(path))):
        r = run_cli(*cmd)
        assert r.returncode == 2 and str(path) in _one_line(r) and "UTF-8" in r.stderr


def test_inspect_of_a_pte_with_flipped_header_bytes_is_one_clear_error(artifacts, tmp_path):
    # Probe: a .pte without sidecar, bytes 40 and 2000 flipped: UnicodeDecodeError traceback.
    path = _copy(artifacts["executorch"], tmp_path, with_sidecar=False)
    data = bytearray(path.read_bytes())
    for i in (40, 2000):
        data[i] ^= 0x80
    path.write_bytes(bytes(data))
    r = run_cli("inspect", str(path))
    assert r.returncode in (1, 2) and str(path) in _one_line(r), r.stdout[-2000:]


def test_inspect_of_a_truncated_pte_is_one_line(artifacts, tmp_path):
    # Probe: ExecuTorch's own line on stderr, then skinedge's.
    path = _copy(artifacts["executorch"], tmp_path, with_sidecar=False)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])
    r = run_cli("inspect", str(path))
    assert r.returncode == 2 and str(path) in _one_line(r)
    assert "File size is too small" in r.stderr  # ExecuTorch's reason, inside that line


@pytest.mark.parametrize("damage", ["header flipped", "truncated"])
def test_inspect_of_a_checkpoint_with_unreadable_weights_is_one_clear_error(checkpoint, damage):
    # Probe: a raw SafetensorError traceback from the structure summary.
    weights = checkpoint / WEIGHTS
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        data = data[:100_000]
    for i in ((3, 20, 40) if damage == "header flipped" else ()):
        data[i] ^= 0xFF
    weights.write_bytes(bytes(data))
    r = run_cli("inspect", str(checkpoint))
    assert r.returncode == 2 and str(weights) in _one_line(r) and "safetensors" in r.stderr
