"""The ablation's scheduling and report helpers (benchmarks/ablation.py,
benchmarks/mae_teacher_report.py): plain functions, no training."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def ablation():
    mod = _script("ablation")
    yield mod
    mod.NEEDS.clear()
    mod.MAKING.clear()


def test_a_job_whose_input_is_being_made_yields_its_lane(ablation, tmp_path):
    queue = ablation.jobs(tmp_path, [0, 1, 2])
    names = [j[0] for j in queue]
    job = lambda n: queue[names.index(n)]
    pre = job("pretrain_synth")
    # Its pre-training still queued or running: the teacher of arm (e) waits, a student does not.
    assert ablation.waits(job("teacher_maesynth"), queue)
    assert not ablation.waits(job("student_kdens_s0"), queue)
    rest = [j for j in queue if j is not pre]
    ablation.MAKING.add(pre[2])
    assert ablation.waits(job("teacher_maesynth"), rest)
    # Once the pre-training reached its epochs, the teacher may start.
    ablation.MAKING.clear()
    state = pre[2]
    state.parent.mkdir(parents=True)
    (state.parent.parent / "config.json").write_text(json.dumps({"epochs": 16}))
    state.write_text(json.dumps({"epoch": 15}))
    assert not ablation.finished(state) and ablation.waits(job("teacher_maesynth"), queue)
    state.write_text(json.dumps({"epoch": 16}))
    assert ablation.finished(state) and not ablation.waits(job("teacher_maesynth"), queue)


def test_the_ensemble_students_name_every_mae_teacher(ablation, tmp_path):
    queue = {n: c for n, c, _ in ablation.jobs(tmp_path, [0, 1, 2])}
    cmd = queue["student_kdens_s1"]
    teachers = cmd[cmd.index("--teacher") + 1].split(",")
    assert teachers == [str(tmp_path / t / "best") for t in
                        ("teacher_mae", "teacher_mae_s1", "teacher_mae_s2")]
    assert cmd[cmd.index("--seed") + 1] == "1"


def test_latency_column_tells_the_8_view_artifact_apart(tmp_path):
    report = _script("mae_teacher_report")
    row = lambda path, ms: {"status": "ok", "kind": "artifact", "path": path, "input_size": 128,
                            "architecture": "mobilenetv4_conv_small",
                            "latency_ms": {"1": {"median": ms}}}
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"rows": [
        row("a/mobilenetv4_conv_small_xnnpack_int8.pte", 0.4),
        row("b/mobilenetv4_conv_small_xnnpack_int8_tta8.pte", 3.1),
        row("c/mobilenetv4_conv_small_xnnpack_fp32.pte", 0.9)]}))
    assert report.pte_latency(bench) == {("mobilenetv4_conv_small", 128, 1): 0.4,
                                         ("mobilenetv4_conv_small", 128, 8): 3.1}
    sel = [{"val_bal": 0.5, "test_bal": 0.6, "f1": 0.4, "auc": 0.9, "mel": 0.5, "gflops": 0.98,
            "arch": "mobilenetv4_conv_small", "size": 128, "views": 8}]
    assert report.arm_cells(sel, report.pte_latency(bench), 3).endswith("| 0.980 | 3.10 |")
