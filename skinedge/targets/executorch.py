"""ExecuTorch target: a .pte lowered to the XNNPACK delegate, fp32 or int8 (PT2E).

int8 follows ExecuTorch's per-architecture practice: static per-channel quantization
calibrated on real images for CNNs, dynamic per-channel for ViTs (attention activations
vary too much per image for one static scale). The model card is embedded as a constant
method ``model_card`` (UTF-8 bytes in a uint8 tensor, so contiguous in the file) whose
``integrity_sha256`` covers the whole .pte, card included (card.py); the sidecar
``<name>.card.json`` is a byte copy of it, for tools that cannot run the program, and must
be the ``model_card`` constant byte for byte (finding its bytes somewhere in the file is not
enough: a second card could be appended). The hash is checked before ExecuTorch parses the
file, and a file holding more than one card is refused. Exports from before the integrity hash
had a sidecar that added the file's sha256.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..card import (PLACEHOLDER, ModelCard, accept_unsealed, integrity_sha, regular_file, seal,
                    sealed_fields, sha256_file)
from ..errors import CheckpointError
from ..models import get_spec
from .common import (as_float_batch, example_input, installed, quiet_stderr, reports_disk_full,
                     require)

CARD_METHOD = "model_card"
FLOAT = 6  # ExecuTorch ScalarType::Float
# Memory planning sizes the .pte's arena for the largest batch, so keep it phone-sized;
# larger batches run in chunks.
PTE_MAX_BATCH = 8


def _batch_dim():
    return torch.export.Dim("batch", min=1, max=PTE_MAX_BATCH)


def sidecar(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".pte") + ".card.json")


@contextmanager
def _relu6_as_fused_activation():
    """While quantizing: XNNPACK's quantizer fuses conv + ReLU (one observer, after the
    activation), but gives hardtanh (ReLU6: EfficientNet-Lite, MobileNetV2) the observer of the
    conv output before it, so every int8 range is the pre-clip one. Conv + hardtanh(0, max) is
    annotated like conv + ReLU instead (XNNPACK applies the clamp as the conv's output bounds).
    Measured on efficientnet_lite0 at 128 px, 512 validation images: top-1 agreement with fp32
    0.879 -> 0.969, max |Δp| 0.667 -> 0.139."""
    utils = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils", "executorch")
    plain = utils.is_relu_node
    relu6 = (torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default)

    def relu_or_relu6(node) -> bool:
        return plain(node) or (node.op == "call_function" and node.target in relu6
                               and len(node.args) > 1 and node.args[1] == 0.0)
    utils.is_relu_node = relu_or_relu6
    try:
        yield
    finally:
        utils.is_relu_node = plain


def _quantize(model, card: ModelCard, calibration: np.ndarray, scheme: str):
    xq = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "executorch")
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "torchao")
    if scheme == "auto":
        scheme = "dynamic" if get_spec(card.architecture).is_vit else "static"
    cfg = xq.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=scheme == "dynamic")
    quantizer = xq.XNNPACKQuantizer().set_global(cfg)
    gm = torch.export.export(model, (example_input(card.input_size),),
                             dynamic_shapes=({0: _batch_dim()},)).module()
    with _relu6_as_fused_activation():
        prepared = pt2e.prepare_pt2e(gm, quantizer)
    with torch.no_grad():
        for i in range(0, len(calibration), 16):
            prepared(torch.from_numpy(calibration[i:i + 16]))
    return pt2e.convert_pt2e(prepared), scheme


def lower(model, card: ModelCard, recipe, calibration: np.ndarray | None, name: str,
          generate_etrecord: bool = False):
    """Quantize (per recipe) and lower to XNNPACK: (EdgeProgramManager, card embedded)."""
    exir = require("executorch.exir", "executorch")
    part = require("executorch.backends.xnnpack.partition.xnnpack_partitioner", "executorch")
    scheme = None
    if recipe.quantization == "int8":
        model, scheme = _quantize(model, card, calibration, recipe.options.get("scheme", "auto"))
    ep = torch.export.export(model, (example_input(card.input_size),),
                             dynamic_shapes=({0: _batch_dim()},))
    inner = card.with_(format="executorch", quantization=recipe.quantization + (
        f"-{scheme}" if scheme else ""), artifact_file=name, artifact_sha256="",
        artifact_hash_scope="", integrity_sha256=PLACEHOLDER)
    blob = torch.tensor(list(inner.to_json().encode()), dtype=torch.uint8)
    with quiet_stderr():
        edge = exir.to_edge_transform_and_lower(
            ep, partitioner=[part.XnnpackPartitioner()], constant_methods={CARD_METHOD: blob},
            generate_etrecord=generate_etrecord)
    return edge, inner


@reports_disk_full
def export(model, card: ModelCard, dest: Path, recipe, calibration: np.ndarray | None) -> ModelCard:
    edge, inner = lower(model, card, recipe, calibration, Path(dest).name)
    with quiet_stderr():
        Path(dest).write_bytes(edge.to_executorch().buffer)
    final = inner.with_(integrity_sha256=seal(Path(dest)))
    final.save(sidecar(dest))
    return final


def _program(path: Path):
    said: list[str] = []  # ExecuTorch's own reason (e.g. the file size it expected)
    try:
        with quiet_stderr(said):
            return _runtime().load_program(str(path))
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: ExecuTorch could not load it: corrupt or truncated, or "
                              f"not a .pte ({'; '.join(said) or exc})") from None


def _embedded_bytes(path: Path) -> bytes:
    """The bytes the ``model_card`` method returns: the card as export embedded it."""
    program = _program(path)
    if CARD_METHOD not in program.method_names:
        raise CheckpointError(f"{path}: no model card (neither {sidecar(path).name} nor a "
                              f"'{CARD_METHOD}' method); export it with `skinedge export`")
    try:
        with quiet_stderr():
            data = program.load_method(CARD_METHOD).execute([])[0]
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: its '{CARD_METHOD}' cannot be read: corrupt or "
                              f"truncated ({exc})") from None
    return bytes(data.numpy().tolist())


def _embedded_card(path: Path) -> ModelCard:
    return ModelCard.from_json(_embedded_bytes(path), f"{path}:{CARD_METHOD}")


def _read(path: Path) -> bytes:
    regular_file(path)
    data = path.read_bytes()
    if not data:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a .pte; export it again")
    return data


def _sealed_digest(path: Path, data: bytes) -> str:
    """The integrity digest written in the .pte's card, checked against its bytes before
    ExecuTorch parses them; "" when the file has none (exported before integrity hashes). An
    export writes exactly one card: a second one (appended, say) is refused."""
    found = sealed_fields(data)
    if len(found) > 1:
        raise CheckpointError(f"{path}: corrupt: {len(found)} model cards' integrity hashes in "
                              "it, where an export writes one; export it again")
    digest = found[0] if found else ""
    if digest and integrity_sha(data, digest) != digest:
        raise CheckpointError(f"{path}: integrity sha256 does not match the model card embedded "
                              "in it: the file was changed, corrupted or truncated after export; "
                              "export it again")
    return digest


def read_card(path: Path, verify: bool = True) -> ModelCard:
    path = Path(path)
    data = _read(path)
    side = sidecar(path) if sidecar(path).is_file() else None
    digest = _sealed_digest(path, data) if verify else ""
    if digest:
        return _sealed_card(path, digest, side)
    card = ModelCard.load(side) if side else _embedded_card(path)
    if verify:
        _verify_unsealed(path, card, side)
    return card


def _sealed_card(path: Path, digest: str, side: Path | None) -> ModelCard:
    """The card of a sealed .pte: its ``model_card`` constant (the hash over the raw bytes
    covers it); a sidecar must be that constant byte for byte, not merely found in the file."""
    embedded = _embedded_bytes(path)
    if side is not None and (side.stat().st_size > len(embedded) + 1
                             or side.read_bytes().rstrip(b"\n") != embedded):
        raise CheckpointError(f"{side}: not the model card embedded in {path.name} byte for "
                              f"byte (its '{CARD_METHOD}' method, which the integrity sha256 "
                              "covers): the sidecar was edited or belongs to another export; "
                              "delete it or export again")
    card = ModelCard.from_json(embedded, f"{path}:{CARD_METHOD}")
    if card.integrity_sha256 != digest:
        raise CheckpointError(f"{path}: corrupt: the integrity sha256 of its '{CARD_METHOD}' "
                              "is not the one in its bytes; export it again")
    return card


def _verify_unsealed(path: Path, card: ModelCard, side: Path | None) -> None:
    """A .pte without an integrity hash in its bytes: its card (sidecar or embedded) must not
    claim one, and must be from before integrity hashes."""
    if card.integrity_sha256:
        raise CheckpointError(f"{side}: not the model card embedded in {path.name}: it claims "
                              "an integrity sha256 the .pte does not hold; the sidecar belongs "
                              "to another export; delete it or export again" if side else
                              f"{path}: corrupt: the integrity sha256 of its '{CARD_METHOD}' is "
                              "not in its bytes; export it again")
    accept_unsealed(path, card, "export it again with `skinedge export` to add one")
    if side is None:
        return
    if card.artifact_sha256 != sha256_file(path):
        raise CheckpointError(f"{path}: sha256 does not match {side.name}; the .pte was changed "
                              "or the card belongs to another file")
    mine, embedded = (c.with_(artifact_sha256="", artifact_hash_scope="").to_dict()
                      for c in (card, _embedded_card(path)))
    if mine != embedded:
        raise CheckpointError(f"{side}: differs from the model card embedded in {path.name} "
                              f"({', '.join(k for k in mine if mine[k] != embedded.get(k))}); "
                              "the sidecar was edited or belongs to another export")


def _runtime():
    rt = require("executorch.runtime", "executorch")
    return rt.Runtime.get()


def can_run_here() -> tuple[bool, str]:
    return installed("executorch.runtime", "executorch")


def structure(path: Path) -> dict:
    """Methods, the forward input/output tensors, and what XNNPACK did not take."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = _program(path)
    meta = program.metadata("forward")
    try:
        plans = deserialize_pte_binary(Path(path).read_bytes()).program.execution_plan
    except Exception as exc:  # the flatbuffer reader raises UnicodeDecodeError, struct.error, ...
        raise CheckpointError(f"{path}: corrupt: its program cannot be parsed "
                              f"({type(exc).__name__}: {str(exc)[:120]}); export it again") from None
    plan = {p.name: p for p in plans}
    forward = plan["forward"]
    return {
        "methods": sorted(program.method_names),
        "inputs": [list(meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())],
        "input_is_float": all(meta.input_tensor_meta(i).dtype() == FLOAT for i in range(meta.num_inputs())),
        "outputs": [list(meta.output_tensor_meta(i).sizes()) for i in range(meta.num_outputs())],
        "delegates": dict(Counter(d.id for d in forward.delegates)),
        "non_delegated_ops": sorted({op.name for op in forward.operators}),
        "has_sidecar_card": sidecar(path).is_file(),
    }


def verify_structure(path: Path) -> list[str]:
    try:
        card = read_card(path)
        s = structure(path)
    except CheckpointError as exc:
        return [str(exc)]
    size, problems = card.input_size, []
    if CARD_METHOD not in s["methods"]:
        problems.append(f"no '{CARD_METHOD}' method: the apps cannot read the model card")
    if not s["input_is_float"] or [x[1:] for x in s["inputs"]] != [[3, size, size]]:
        problems.append(f"forward input is {s['inputs']}, expected float [N, 3, {size}, {size}]")
    if [x[1:] for x in s["outputs"]] != [[len(card.labels)]]:
        problems.append(f"forward output is {s['outputs']}, expected [N, {len(card.labels)}]")
    if not s["delegates"]:
        problems.append("nothing is delegated to XNNPACK: it would run on portable kernels")
    return problems


def graph_macs(path: Path) -> None:
    return None  # the delegate blobs are opaque; the card's torch count stands


class Runtime:
    """The ExecuTorch runtime's Python bindings (the same C++ runtime the apps embed)."""

    name = "executorch"

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        self.card = read_card(self.path)
        if threads:
            from executorch.extension.pybindings import portable_lib

            with quiet_stderr():  # XNNPACK's pool is process-wide
                portable_lib._unsafe_reset_threadpool(threads)
        program = _program(self.path)
        try:
            with quiet_stderr():
                self.method = program.load_method("forward")
        except RuntimeError as exc:
            raise CheckpointError(f"{self.path}: ExecuTorch could not load it ({exc})") from None

    def run(self, x: np.ndarray) -> np.ndarray:
        x = as_float_batch(x)
        return np.concatenate([self.method.execute([torch.from_numpy(x[i:i + PTE_MAX_BATCH])])[0].numpy()
                               for i in range(0, len(x), PTE_MAX_BATCH)])
