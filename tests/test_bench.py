"""The benchmark: schema, FLOP counts, per-process isolation and failure handling.
No timing is asserted: only that timings exist and are well-formed."""
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skinedge.bench.report import markdown, plot_points, plots
from skinedge.bench.runner import BenchConfig, run_bench
from skinedge.errors import ConfigError
from skinedge.layout import SAMPLE_DATA
from skinedge.targets.onnx import graph_macs


@pytest.fixture(scope="module")
def bench_doc(exported, tmp_path_factory):
    """Three artifacts and a broken one, with no data given: accuracy from the shipped sample."""
    tmp = tmp_path_factory.mktemp("bench")
    broken = tmp / "broken.onnx"
    shutil.copy(exported["onnx-fp32"].path, broken)
    broken.write_bytes(broken.read_bytes()[:2000])  # truncated: fails to load
    models = (exported["onnx-fp32"].path, exported["executorch-fp32"].path,
              exported["onnx-int8"].path, str(broken))
    cfg = BenchConfig(models=models, batches=(1, 2), rounds=2, runs=3, warmup=1, threads=1,
                      out=str(tmp / "out"), progress=False, compile_baseline=False)
    return run_bench(cfg), tmp / "out"


def _cells(md: str, name: str) -> list[str]:
    """The cells of the Markdown table row of ``name``."""
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_results_follow_the_schema(bench_doc):
    doc, out = bench_doc
    assert doc["schema"] == "skinedge.bench/2"
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
        assert r["flops"] > 0 and r["flops_graph"] == pytest.approx(r["flops"], rel=0.02)
        assert r["flops_graph_from"].endswith(".onnx")
    assert "| model |" in (out / "latest.md").read_text()


def test_ratios_are_to_the_baseline_row(bench_doc):
    doc, _ = bench_doc
    ok = {Path(r["path"]).name: r for r in doc["rows"] if r["status"] == "ok"}
    ort = next(r for name, r in ok.items() if name.endswith("onnx_fp32.onnx"))
    assert ort["role"] == "baseline"
    assert [r["role"] for r in ok.values()].count("baseline") == 1
    for r in ok.values():
        for b in ("1", "2"):
            want = r["latency_ms"][b]["median"] / ort["latency_ms"][b]["median"]
            assert r["ratios"]["onnxruntime_fp32"][b] == pytest.approx(want)


def test_no_data_means_the_shipped_sample_and_says_so(bench_doc):
    doc, out = bench_doc
    assert doc["accuracy_data"] == {"data": str(SAMPLE_DATA), "split": "test", "shipped_sample": True}
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert all(r["accuracy"]["n"] > 0 and 0 <= r["accuracy"]["balanced_accuracy"] <= 1 for r in ok)
    assert "sample shipped with skinedge" in (out / "latest.md").read_text()
    assert sorted(p[3] for p in plot_points(doc)) == sorted(r["accuracy"]["balanced_accuracy"] for r in ok)


def test_unknown_accuracy_is_never_plotted(bench_doc, tmp_path):
    doc, _ = bench_doc
    doc = copy.deepcopy(doc)
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    ok[0]["accuracy"], ok[0]["accuracy_error"] = None, "not the data the model was trained on"
    assert ok[0]["name"] not in [p[0] for p in plot_points(doc)]
    assert _cells(markdown(doc), ok[0]["name"])[-1] == "-"  # the bal-acc column
    for r in ok:
        r["accuracy"] = None
    (tmp_path / "latency_vs_accuracy.png").write_bytes(b"stale plot of an earlier run")
    plots(doc, tmp_path)
    assert not list(tmp_path.glob("*.png"))


def test_percent_of_the_fp32_peak_only_for_fp32_rows(bench_doc):
    doc, _ = bench_doc
    ok = [r for r in doc["rows"] if r["status"] == "ok"]
    assert {r["quantization"] for r in ok} == {"fp32", "int8"}
    md = markdown(doc)
    for r in ok:
        assert r["gflops_achieved"] > 0
        cell = _cells(md, r["name"])[-2]  # the GFLOP/s (% of fp32 peak) column
        if r["quantization"] == "fp32":
            assert 0 < r["fraction_of_matmul_peak"] and cell.endswith("%)")
        else:
            assert "fraction_of_matmul_peak" not in r and "%" not in cell
    assert "fp32 rows only" in md


def test_a_checkpoint_gives_eager_and_torch_compile_rows(small_model, tmp_path):
    cfg = BenchConfig(models=(str(small_model),), targets=("eager",), batches=(1,), rounds=1,
                      runs=2, warmup=0, threads=1, out=str(tmp_path), progress=False)
    doc = run_bench(cfg)
    rows = {r["kind"]: r for r in doc["rows"]}
    assert len(doc["rows"]) == 2 and set(rows) == {"artifact", "compile"} and not doc["exports"]
    assert rows["artifact"]["target"] == rows["compile"]["target"] == "eager"
    for r in rows.values():
        assert r["status"] == "ok", r["error"]
        assert r["latency_ms"]["1"]["n"] == 2 and r["role"] == "baseline"
        assert r["accuracy"]["n"] > 0
    assert rows["compile"]["ratios"]["eager_fp32"]["1"] > 0


def test_default_output_folder_is_documented():
    assert BenchConfig().out == "bench_results"
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "bench", "--help"],
                       capture_output=True, text=True)
    assert "bench_results" in r.stdout


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
                        "--target", "tflite", "--out", str(tmp_path)], capture_output=True, text=True)
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
    macs = graph_macs(path)
    hand_conv = 16 * 16 * 8 * 3 * 9 + 16 * 16 * 8 * 1 * 9
    hand_fc = 8 * 16 * 16 * 7
    assert macs.get("Conv") == hand_conv
    assert macs.get("Gemm", 0) + macs.get("MatMul", 0) == hand_fc


def test_a_folder_stands_for_the_models_in_it(small_model, tmp_path):
    """`skinedge bench artifacts` benches the models an export left there, not its reports."""
    import shutil

    from skinedge.bench.runner import _expand

    shutil.copytree(small_model, tmp_path / "ckpt")
    for name in ("export_report.json", "split.json", "m_xnnpack_int8.card.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "m_onnx_fp32.onnx").write_bytes(b"")
    assert _expand([str(tmp_path)]) == [tmp_path / "ckpt", tmp_path / "m_onnx_fp32.onnx"]
    assert _expand([str(tmp_path / "ckpt")]) == [tmp_path / "ckpt"]
