"""FLOP/MAC counting on the ONNX graph: the second, independent count that cross-checks
torch's FlopCounterMode (stored in the model card).

A multiply-add is one MAC and two FLOPs. Counted: Conv (incl. depthwise via groups),
Gemm and MatMul, which carry >99% of the arithmetic of the CNN and ViT students.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _shape(value_info) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]


def onnx_macs(path: str | Path, batch: int = 1) -> dict[str, int]:
    """MACs per op type of an fp32 ONNX model at ``batch`` (dynamic dims set to it)."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    for inp in model.graph.input:
        for d in inp.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = batch
    model = shape_inference.infer_shapes(model)
    shapes = {vi.name: _shape(vi) for vi in (*model.graph.value_info, *model.graph.input,
                                              *model.graph.output)}
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    shapes.update(inits)
    macs: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]  # [Cout, Cin/groups, kh, kw]
            out = shapes[node.output[0]]  # [N, Cout, H, W]
            n = int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            k = a[-1]
            if node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute):
                k = a[0]
            n = int(np.prod(out)) * int(k)
        else:
            continue
        macs[node.op_type] = macs.get(node.op_type, 0) + n
    return macs


def _best_rate(fn, n: int, seconds: float) -> float:
    import time

    for _ in range(3):
        fn()
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def _torch_matmul(threads: int, n: int, seconds: float) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    return _best_rate(lambda: a @ b, n, seconds)


def _onnxruntime_matmul(threads: int, n: int, seconds: float) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {x: np.random.rand(n, n).astype(np.float32) for x in "ab"}
    return _best_rate(lambda: sess.run(None, feed), n, seconds)


def measure_matmul_peak(threads: int, n: int = 1024, seconds: float = 1.5) -> dict[str, float]:
    """This machine's fp32 n x n matrix-multiply rate in GFLOP/s with ``threads`` threads, by
    each BLAS at hand (torch's MKL takes a slower path on AMD CPUs; onnxruntime's MLAS does
    not). The peak used for ratios is the best of them."""
    rates = {"torch": _torch_matmul(threads, n, seconds)}
    try:
        rates["onnxruntime"] = _onnxruntime_matmul(threads, n, seconds)
    except ImportError:
        pass
    rates["peak"] = max(rates.values())
    return rates
