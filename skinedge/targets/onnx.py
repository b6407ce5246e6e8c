"""ONNX target: torch.onnx (dynamo) export, optional static QDQ int8, onnxruntime runtime.

The model card is stored in ``metadata_props`` under ``skinedge.model_card``. Its
``integrity_sha256`` covers the whole .onnx file, card included (card.py); its
``artifact_sha256`` fingerprints the graph and weights alone (the serialized model without the
card entry), which is all that cards written before the integrity hash can check.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from itertools import chain
from pathlib import Path

import numpy as np

from ..card import PLACEHOLDER, ModelCard, accept_unsealed, integrity_digest, regular_file, seal
from ..errors import CheckpointError
from .common import (CARD_KEY, as_float_batch, batch_dim, example_input, installed,
                     reports_disk_full, require)

HASH_SCOPE = "onnx model without the skinedge.model_card metadata entry"
INPUT, OUTPUT = "image", "logits"


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


@reports_disk_full
def export(model, card: ModelCard, dest: Path, recipe, calibration: np.ndarray | None) -> ModelCard:
    """Write ``dest`` (.onnx); calibration: float32 [N, 3, S, S] real training images."""
    import torch

    onnx = require("onnx", "onnx")
    require("onnxscript", "onnxscript")
    size = card.input_size
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        prog = torch.onnx.export(model, (example_input(size, 1),), dynamo=True, verbose=False,
                                 input_names=[INPUT], output_names=[OUTPUT],
                                 dynamic_shapes=({0: batch_dim()},))
        prog.save(str(fp32))
        path = fp32
        if recipe.quantization == "int8":
            path = _quantize_int8(fp32, Path(tmp), calibration)
        m = onnx.load(str(path))
    m.doc_string = f"skinedge {card.architecture} skin-lesion classifier ({recipe.quantization})"
    final = card.with_(format="onnx", quantization=recipe.quantization,
                       artifact_file=Path(dest).name, artifact_sha256=_content_sha(m),
                       artifact_hash_scope=HASH_SCOPE, integrity_sha256=PLACEHOLDER)
    _set_card(m, final)
    onnx.save(m, str(dest))
    return final.with_(integrity_sha256=seal(Path(dest)))


def _quantize_int8(fp32: Path, tmp: Path, calibration: np.ndarray) -> Path:
    q = require("onnxruntime.quantization", "onnxruntime")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, out = tmp / "pre.onnx", tmp / "int8.onnx"
    quant_pre_process(str(fp32), str(pre))

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{INPUT: calibration[i:i + 16]} for i in range(0, len(calibration), 16)])

        def get_next(self):
            return next(self.batches, None)

    q.quantize_static(str(pre), str(out), Reader(), quant_format=q.QuantFormat.QDQ,
                      per_channel=True, activation_type=q.QuantType.QUInt8,
                      weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax)
    return out


def _node_tensors(nodes):
    """The tensors in nodes' attributes, subgraphs included."""
    for node in nodes:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from _tensors(g)


def _tensors(graph):
    """Every tensor a graph holds: initializers and node attributes."""
    yield from graph.initializer
    yield from (s.values for s in graph.sparse_initializer)
    yield from _node_tensors(graph.node)


def _external_files(m) -> list[str]:
    """Where the model's tensors stored outside the .onnx (ONNX external data) live."""
    onnx = require("onnx", "onnx")
    tensors = chain(_tensors(m.graph), *(_node_tensors(f.node) for f in m.functions))
    return sorted({next((e.value for e in t.external_data if e.key == "location"), "?")
                   for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL})


def _load(path: Path, external: bool = False):
    """The ONNX model in ``path``; one that keeps tensors in external data is refused unless
    ``external`` (counting MACs reads no prediction from them: then they are loaded)."""
    onnx = require("onnx", "onnx")
    path = Path(path)
    regular_file(path)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not an ONNX model; export it again")
    try:
        # External data is not read here: a model that has any is refused below.
        m = onnx.load(str(path), load_external_data=external)
    except Exception as exc:  # onnx raises DecodeError/ValueError/OSError variously
        raise CheckpointError(f"{path}: not a readable ONNX model: corrupt or truncated "
                              f"({str(exc)[:200]})") from None
    if not m.graph.node:
        raise CheckpointError(f"{path}: not an ONNX model, or a corrupt or truncated one "
                              "(it holds no graph)")
    outside = [] if external else _external_files(m)
    if outside:
        raise CheckpointError(f"{path}: keeps tensors in ONNX external data "
                              f"({', '.join(outside)[:200]}), outside the file its integrity "
                              "hash covers, so they could change unnoticed; refused. Export it "
                              "again with `skinedge export` (one self-contained .onnx)")
    return m


def read_card(path: Path, verify: bool = True) -> ModelCard:
    m = _load(path)
    props = {p.key: p.value for p in m.metadata_props}
    if CARD_KEY not in props:
        raise CheckpointError(f"{path}: no skinedge model card in its metadata_props (not "
                              "exported by `skinedge export`, or cut short); export it again")
    card = ModelCard.from_json(props[CARD_KEY], f"{path} metadata")
    if verify:
        _verify(Path(path), m, card)
    return card


def _verify(path: Path, m, card: ModelCard) -> None:
    if card.integrity_sha256:
        if integrity_digest(path, card.integrity_sha256) != card.integrity_sha256:
            raise CheckpointError(f"{path}: integrity sha256 does not match its model card: the "
                                  "card, graph or weights were changed, corrupted or truncated "
                                  "after export; export it again")
        return
    accept_unsealed(path, card, "export it again with `skinedge export` to add one")
    if card.artifact_sha256 != _content_sha(m):
        raise CheckpointError(f"{path}: sha256 does not match its model card; the graph or "
                              "weights were changed after export")
    # An old card is not covered by that sha256: at least its input size must be the graph's.
    image = _dims(m.graph.input[0]) if m.graph.input else []
    if image[1:] != [3, card.input_size, card.input_size]:
        raise CheckpointError(f"{path}: its model card says input {card.input_size} px, but "
                              f"the graph takes {image}; the card was edited after export")


def can_run_here() -> tuple[bool, str]:
    return installed("onnxruntime", "onnxruntime")


def _dims(value_info) -> list:
    """Shape as ints, with a dynamic dimension given by its name (e.g. "batch")."""
    return [d.dim_value if d.HasField("dim_value") else d.dim_param or "?"
            for d in value_info.type.tensor_type.shape.dim]


def structure(path: Path) -> dict:
    m = _load(path)
    ops = Counter(n.op_type for n in m.graph.node)
    return {
        "opset": max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "inputs": {i.name: _dims(i) for i in m.graph.input},
        "outputs": {o.name: _dims(o) for o in m.graph.output},
        "nodes": sum(ops.values()),
        "ops": dict(ops.most_common()),
        "has_card": any(p.key == CARD_KEY for p in m.metadata_props),
    }


def verify_structure(path: Path) -> list[str]:
    try:
        card = read_card(path)
    except CheckpointError as exc:
        return [str(exc)]
    s, size = structure(path), card.input_size
    problems = []
    image = s["inputs"].get(INPUT)
    if not image or image[1:] != [3, size, size] or isinstance(image[0], int):
        problems.append(f"inputs are {s['inputs']}, expected {INPUT}: [batch, 3, {size}, {size}]")
    if s["outputs"].get(OUTPUT, [])[1:] != [len(card.labels)]:
        problems.append(f"outputs are {s['outputs']}, expected {OUTPUT}: [batch, {len(card.labels)}]")
    if card.quantization == "int8" and not s["ops"].get("DequantizeLinear"):
        problems.append("no DequantizeLinear nodes: the int8 model is not quantized")
    return problems


def graph_macs(path: Path, batch: int = 1) -> dict[str, int]:
    """MACs per op type at ``batch``: Conv (depthwise via groups), Gemm and MatMul, which carry
    over 99% of the arithmetic of the CNN and ViT students. One MAC is two FLOPs. This is the
    second, independent count beside torch's FlopCounterMode (in the card)."""
    from onnx import shape_inference

    model = _load(path, external=True)
    for inp in model.graph.input:
        for d in inp.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = batch
    model = shape_inference.infer_shapes(model)
    shapes = {vi.name: [d if isinstance(d, int) else batch for d in _dims(vi)]
              for vi in (*model.graph.value_info, *model.graph.input, *model.graph.output)}
    shapes.update({i.name: list(i.dims) for i in model.graph.initializer})
    macs: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]  # [Cout, Cin/groups, kh, kw]
            n = int(np.prod(shapes[node.output[0]])) * int(np.prod(w[1:]))  # out: [N, Cout, H, W]
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            n = int(np.prod(shapes[node.output[0]])) * int(a[0] if trans_a else a[-1])
        else:
            continue
        macs[node.op_type] = macs.get(node.op_type, 0) + n
    return macs


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
