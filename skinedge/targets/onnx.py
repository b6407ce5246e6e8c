"""ONNX target: torch.onnx (dynamo) export, optional static QDQ int8, onnxruntime runtime.

The model card is stored in ``metadata_props`` under ``skinedge.model_card``; its sha256
covers the serialized model with that entry removed (a file cannot hash itself).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from ..card import ModelCard
from ..errors import CheckpointError
from .common import CARD_KEY, as_float_batch, batch_dim, example_input, require

HASH_SCOPE = "onnx model without the skinedge.model_card metadata entry"


def _content_sha(model) -> str:
    onnx = require("onnx", "onnx")
    clone = onnx.ModelProto()
    clone.CopyFrom(model)
    keep = [p for p in clone.metadata_props if p.key != CARD_KEY]
    del clone.metadata_props[:]
    clone.metadata_props.extend(keep)
    return hashlib.sha256(clone.SerializeToString(deterministic=True)).hexdigest()


def _set_card(model, card: ModelCard) -> None:
    keep = [p for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card.to_json()


def export(model, card: ModelCard, dest: Path, recipe, calibration: np.ndarray | None) -> ModelCard:
    """Write ``dest`` (.onnx); calibration: float32 [N, 3, S, S] real training images."""
    import torch

    onnx = require("onnx", "onnx")
    require("onnxscript", "onnxscript")
    size = card.input_size
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        prog = torch.onnx.export(model, (example_input(size, 1),), dynamo=True, verbose=False,
                                 input_names=["image"], output_names=["logits"],
                                 dynamic_shapes=({0: batch_dim()},))
        prog.save(str(fp32))
        path = fp32
        if recipe.quantization == "int8":
            path = _quantize_int8(fp32, Path(tmp), calibration)
        m = onnx.load(str(path))
    m.doc_string = f"skinedge {card.architecture} skin-lesion classifier ({recipe.quantization})"
    final = card.with_(format="onnx", quantization=recipe.quantization,
                       artifact_file=Path(dest).name, artifact_sha256=_content_sha(m),
                       artifact_hash_scope=HASH_SCOPE)
    _set_card(m, final)
    onnx.save(m, str(dest))
    return final


def _quantize_int8(fp32: Path, tmp: Path, calibration: np.ndarray) -> Path:
    q = require("onnxruntime.quantization", "onnxruntime")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, out = tmp / "pre.onnx", tmp / "int8.onnx"
    quant_pre_process(str(fp32), str(pre))

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": calibration[i:i + 16]} for i in range(0, len(calibration), 16)])

        def get_next(self):
            return next(self.batches, None)

    q.quantize_static(str(pre), str(out), Reader(), quant_format=q.QuantFormat.QDQ,
                      per_channel=True, activation_type=q.QuantType.QUInt8,
                      weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax)
    return out


def read_card(path: Path, verify: bool = True) -> ModelCard:
    onnx = require("onnx", "onnx")
    try:
        m = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError/ValueError/OSError variously
        raise CheckpointError(f"{path}: not a readable ONNX model ({exc})") from None
    props = {p.key: p.value for p in m.metadata_props}
    if CARD_KEY not in props:
        raise CheckpointError(f"{path}: no skinedge model card in its metadata_props; "
                              "export it with `skinedge export`")
    card = ModelCard.from_json(props[CARD_KEY], f"{path} metadata")
    if verify and card.artifact_sha256 != _content_sha(m):
        raise CheckpointError(f"{path}: sha256 does not match its model card; the graph or "
                              "weights were changed after export")
    return card


class Runtime:
    """onnxruntime on the CPU execution provider."""

    name = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None):
        ort = require("onnxruntime", "onnxruntime")
        self.path = Path(path)
        self.card = read_card(self.path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: as_float_batch(x)})[0]
