"""This machine's matrix-multiply peak: the yardstick for the fraction of peak an fp32
model reaches. (Model FLOPs are counted elsewhere: torch's FlopCounterMode in the model card,
and each target's ``graph_macs`` on the artifact's own graph.)
"""
from __future__ import annotations

import numpy as np


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
