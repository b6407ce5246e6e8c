"""CoreML target: an ML Program (.mlpackage) with an ImageType input and classifier outputs.

An iOS app hands it a pixel buffer; CoreML scales it to [0, 1] (the graph holds the
normalization) and returns ``classLabel`` plus ``classLabel_probs`` keyed by the card's
labels. The card is in ``user_defined_metadata``; its ``integrity_sha256`` covers every file
of the package, card included (card.py), and its ``artifact_sha256`` the weight files alone
(all that cards written before the integrity hash can check).
``MLModel.predict`` exists only on macOS: elsewhere ``can_run_here`` says so, the artifact's
structure is verified instead, and prediction raises a clear error.
"""
from __future__ import annotations

import hashlib
import platform
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ..card import (PLACEHOLDER, ModelCard, accept_unsealed, integrity_digest, seal,
                    sha256_file)
from ..errors import CheckpointError, SkinedgeError
from .common import CARD_KEY, example_input, installed, quiet_stderr, reports_disk_full, require

HASH_SCOPE = "mlpackage weight files (Data/com.apple.CoreML/weights)"
INPUT, LABEL, PROBS = "image", "classLabel", "classLabel_probs"


def can_run_here() -> tuple[bool, str]:
    if platform.system() != "Darwin":
        return False, (f"CoreML prediction needs macOS (the Core ML framework); this is "
                       f"{platform.system()}")
    return installed("coremltools", "coremltools")


def _weights_sha(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*") if p.is_file() and "weights" in p.parts)
    for p in files:
        h.update(p.name.encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


class _WithSoftmax(torch.nn.Module):
    """CoreML classifiers report the last output as probabilities, so emit them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x), dim=1)


def _convert(model, card: ModelCard, recipe):
    """The ML Program; int8 is weight-only (no calibration images)."""
    ct = require("coremltools", "coremltools")
    size = card.input_size
    ep = torch.export.export(_WithSoftmax(model).eval(), (example_input(size, 1),)).run_decompositions({})
    target = getattr(ct.target, recipe.options.get("minimum_deployment_target", "iOS16"))
    precision = ct.precision.FLOAT32 if recipe.quantization == "fp32" else ct.precision.FLOAT16
    with quiet_stderr():  # a progress bar per converter pass
        mlmodel = ct.convert(
            ep, convert_to="mlprogram", minimum_deployment_target=target, compute_precision=precision,
            inputs=[ct.ImageType(name=INPUT, shape=(1, 3, size, size), scale=1 / 255.0,
                                 bias=[0.0, 0.0, 0.0], color_layout=ct.colorlayout.RGB)],
            classifier_config=ct.ClassifierConfig(list(card.labels)))
        if recipe.quantization == "int8":
            opt = require("coremltools.optimize.coreml", "coremltools")
            mlmodel = opt.linear_quantize_weights(mlmodel, opt.OptimizationConfig(
                global_config=opt.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8")))
    return mlmodel


@reports_disk_full
def export(model, card: ModelCard, dest: Path, recipe, calibration: np.ndarray | None) -> ModelCard:
    mlmodel = _convert(model, card, recipe)
    size = card.input_size
    mlmodel.short_description = (f"skinedge {card.architecture} skin-lesion classifier "
                                 f"({len(card.labels)} HAM10000 classes, {recipe.quantization})")
    mlmodel.license = "CC BY-NC 4.0 (trained on HAM10000)"
    mlmodel.input_description[INPUT] = f"RGB dermoscopic image, {size}x{size} (resize shorter side, center crop)"
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.mlpackage"
        mlmodel.save(str(probe))
        digest = _weights_sha(probe)
    final = card.with_(format="coreml", quantization=recipe.quantization,
                       artifact_file=Path(dest).name, artifact_sha256=digest,
                       artifact_hash_scope=HASH_SCOPE, integrity_sha256=PLACEHOLDER)
    mlmodel.user_defined_metadata[CARD_KEY] = final.to_json()
    mlmodel.save(str(dest))
    if _weights_sha(Path(dest)) != digest:
        raise CheckpointError(f"{dest}: weights changed between two saves; cannot fingerprint")
    return final.with_(integrity_sha256=seal(Path(dest)))


def _spec(path: Path):
    ct = require("coremltools", "coremltools")
    if not Path(path).is_dir():
        raise CheckpointError(f"{path}: not an .mlpackage folder")
    try:
        return ct.utils.load_spec(str(path))
    except Exception as exc:  # coremltools raises bare Exceptions for bad packages
        raise CheckpointError(f"{path}: not a readable CoreML package ({exc})") from None


def read_card(path: Path, verify: bool = True) -> ModelCard:
    meta = dict(_spec(path).description.metadata.userDefined)
    if CARD_KEY not in meta:
        raise CheckpointError(f"{path}: no skinedge model card in user_defined_metadata")
    card = ModelCard.from_json(meta[CARD_KEY], f"{path} metadata")
    if not verify:
        return card
    if card.integrity_sha256:
        if integrity_digest(Path(path), card.integrity_sha256) != card.integrity_sha256:
            raise CheckpointError(f"{path}: integrity sha256 does not match its model card: a "
                                  "file of the package (card, program or weights) was changed "
                                  "after export; export it again")
        return card
    accept_unsealed(Path(path), card, "export it again with `skinedge export` to add one")
    if card.artifact_sha256 != _weights_sha(Path(path)):
        raise CheckpointError(f"{path}: weights' sha256 does not match its model card")
    return card


def structure(path: Path) -> dict:
    """What an app relies on, read from the package's spec (works on any OS)."""
    from coremltools.proto import MIL_pb2

    spec = _spec(path)
    desc = spec.description
    inputs = {i.name: i.type for i in desc.input}
    img = inputs.get(INPUT)
    ops, const_types, classifier_labels = Counter(), Counter(), []
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                if op.type == "classify":
                    values = op.inputs["classes"].arguments[0].value.immediateValue.list.values
                    classifier_labels = [v.immediateValue.tensor.strings.values[0] for v in values]
                if op.type == "const" and op.outputs:
                    t = op.outputs[0].type
                    if t.WhichOneof("type") == "tensorType":
                        const_types[MIL_pb2.DataType.Name(t.tensorType.dataType)] += 1
    return {
        "model_type": spec.WhichOneof("Type"),
        "spec_version": spec.specificationVersion,
        "input_is_image": bool(img and img.WhichOneof("Type") == "imageType"),
        "input_size": (img.imageType.width, img.imageType.height) if img else None,
        "input_color_space": (desc.input[0].type.imageType.ColorSpace.Name(img.imageType.colorSpace)
                              if img else None),
        "outputs": [o.name for o in desc.output],
        "predicted_feature": desc.predictedFeatureName,
        "predicted_probabilities": desc.predictedProbabilitiesName,
        "labels": classifier_labels,
        "ops": dict(ops),
        "const_dtypes": dict(const_types),
        "has_card": CARD_KEY in dict(desc.metadata.userDefined),
    }


def verify_structure(path: Path) -> list[str]:
    """Problems an app would hit; empty when the package is as its card says."""
    try:
        card = read_card(path)
    except CheckpointError as exc:
        return [str(exc)]
    s, quantization = structure(path), card.quantization
    problems = []
    if s["model_type"] != "mlProgram":
        problems.append(f"model type is {s['model_type']}, expected mlProgram")
    if not s["input_is_image"] or s["input_size"] != (card.input_size, card.input_size):
        problems.append(f"input is not a {card.input_size}x{card.input_size} image: {s['input_size']}")
    if s["input_color_space"] != "RGB":
        problems.append(f"input colour space is {s['input_color_space']}, expected RGB")
    if s["labels"] != list(card.labels):
        problems.append(f"classifier labels {s['labels']} differ from the card's {list(card.labels)}")
    if (s["predicted_feature"], s["predicted_probabilities"]) != (LABEL, PROBS):
        problems.append(f"outputs are {s['outputs']}, expected {LABEL} and {PROBS}")
    if not s["has_card"]:
        problems.append("model card missing from user_defined_metadata")
    dtypes, ops = s["const_dtypes"], s["ops"]
    quantized_ops = sum(n for op, n in ops.items() if op.startswith("constexpr_"))
    if quantization == "int8" and not quantized_ops:
        problems.append("no int8 weight ops (constexpr_*) found")
    if quantization == "fp16" and dtypes.get("FLOAT32", 0) > dtypes.get("FLOAT16", 0):
        problems.append(f"expected float16 weights, found {dtypes}")
    if quantization == "fp32" and dtypes.get("FLOAT16", 0) > dtypes.get("FLOAT32", 0):
        problems.append(f"expected float32 weights, found {dtypes}")
    return problems


def graph_macs(path: Path) -> None:
    return None  # not counted on MIL programs; the card's torch count stands


class Runtime:
    """Core ML through coremltools (macOS only). ``threads`` is accepted for the common
    signature and not used: Core ML schedules its own CPU, GPU and Neural Engine work."""

    name = "coreml"

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        self.card = read_card(self.path)
        ok, why = can_run_here()
        if not ok:
            raise SkinedgeError(
                f"{self.path}: {why}; use `skinedge inspect` to check the package, or run the "
                ".pte/.onnx export of the same model")
        ct = require("coremltools", "coremltools")
        self.model = ct.models.MLModel(str(self.path))

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 [N, 3, S, S] in [0, 1] -> log-probabilities (softmax of them = the probs)."""
        from PIL import Image

        out = []
        for img in x:
            hwc = np.clip(np.rint(img.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
            probs = self.model.predict({INPUT: Image.fromarray(hwc)})[PROBS]
            out.append([np.log(max(probs[c], 1e-12)) for c in self.card.labels])
        return np.asarray(out, dtype=np.float32)
