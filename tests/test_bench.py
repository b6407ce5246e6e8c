"""The benchmark: schema, FLOP counts, per-process isolation and failure handling.
No timing is asserted: only that timings exist and are well-formed."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from skinedge.bench.flops import onnx_macs
from skinedge.bench.runner import BenchConfig, run_bench
from skinedge.errors import ConfigError


@pytest.fixture(scope="module")
def bench_doc(exported, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    broken = tmp / "broken.onnx"
    shutil.copy(exported["onnx-fp32"].path, broken)
    broken.write_bytes(broken.read_bytes()[:2000])  # truncated: fails to load
    models = (exported["onnx-fp32"].path, exported["executorch-fp32"].path,
              exported["onnx-int8"].path, str(broken))
    from skinedge.api import SAMPLE_DATA
    cfg = BenchConfig(models=models, batches=(1, 2), rounds=2, runs=3, warmup=1, threads=1,
                      data=str(SAMPLE_DATA), out=str(tmp / "out"), progress=False,
                      compile_baseline=False)
    return run_bench(cfg), tmp / "out"


def test_results_follow_the_schema(bench_doc):
    doc, out = bench_doc
    assert doc["schema"] == "skinedge.bench/1"
    assert {"cpu", "cores", "threads"} <= set(doc["host"]) and doc["software"]["torch"]
    assert doc["matmul_peak_gflops"] > 0
    for name in ("latest.json", "latest.md", "latency_vs_accuracy.png", "size_vs_accuracy.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "latest.json").read_text())["rows"] == doc["rows"]
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert len(ok) == 3
    for r in ok:
        for b in ("1", "2"):
            s = r["latency_ms"][b]
            assert s["n"] == 6 and 0 < s["min"] <= s["median"] <= s["p90"] <= s["p99"]
            assert r["throughput_img_s"][b] > 0
        assert r["size_bytes"] > 0 and r["peak_rss_mb"] > 0 and r["load_s"] >= 0
        assert r["flops"] > 0 and r["flops_onnx_graph"] == pytest.approx(r["flops"], rel=0.02)
        assert 0 <= r["accuracy"]["balanced_accuracy"] <= 1
        assert r["ratios"]["onnxruntime_fp32"]["1"] > 0
    ort = next(r for r in ok if r["path"].endswith("onnx_fp32.onnx"))
    assert ort["ratios"]["onnxruntime_fp32"]["1"] == pytest.approx(1.0)
    assert "| model |" in (out / "latest.md").read_text()


def test_each_row_runs_in_its_own_processes(bench_doc):
    doc, _ = bench_doc
    pids = [p for r in doc["rows"] for p in r["pids"]]
    assert len(pids) == len(set(pids)) == 3 * 2  # 3 working rows x 2 rounds
    assert os.getpid() not in pids


def test_a_broken_artifact_fails_its_row_only(bench_doc):
    doc, _ = bench_doc
    bad = [r for r in doc["rows"] if r["status"] != "ok"]
    assert len(bad) == 1 and bad[0]["name"] == "broken.onnx"
    assert "not a readable ONNX model" in bad[0]["error"]


def test_a_hanging_measurement_is_cut_off(exported, tmp_path):
    cfg = BenchConfig(models=(exported["onnx-fp32"].path,), batches=(1,), rounds=1, runs=2,
                      warmup=0, threads=1, out=str(tmp_path), progress=False, timeout_s=0.01)
    doc = run_bench(cfg)
    assert doc["rows"][0]["status"] == "failed" and "timed out" in doc["rows"][0]["error"]


def test_cli_exit_code_and_unknown_target(exported, tmp_path):
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "bench", exported["onnx-fp32"].path,
                        "--targets", "tflite", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown target" in r.stderr
    with pytest.raises(ConfigError):
        BenchConfig(batches=(0,))


def test_onnx_flop_count_matches_a_hand_count(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        torch.nn.Flatten(), torch.nn.Linear(8 * 16 * 16, 7)).eval()
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(path), dynamo=True)
    macs = onnx_macs(path)
    hand_conv = 16 * 16 * 8 * 3 * 9 + 16 * 16 * 8 * 1 * 9
    hand_fc = 8 * 16 * 16 * 7
    assert macs.get("Conv") == hand_conv
    assert macs.get("Gemm", 0) + macs.get("MatMul", 0) == hand_fc
