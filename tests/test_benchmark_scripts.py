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


def _metrics(bal: float) -> dict:
    side = {"balanced_accuracy": bal, "macro_f1": 0.4, "auc_ovr": 0.9, "n": 10,
            "per_class": {"mel": {"recall": 0.5}}}
    return {"val": side, "test": side, "history": [{}, {}]}


def test_the_committed_results_alone_rebuild_the_rows(tmp_path):
    """runs/ does not outlive a session: the table must come from the copies sync_results.sh
    keeps (metrics + card, or metrics + config for older copies) and the kept 8-view rows."""
    report = _script("mae_teacher_report")
    a, b = tmp_path / "student_kd_s0", tmp_path / "student_kd_s1"
    for d, bal in ((a, 0.6), (b, 0.5)):
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps(_metrics(bal)))
    (a / "card.json").write_text(json.dumps({"architecture": "mobilenetv4_conv_small",
                                             "input_size": 128, "flops": 122_000_000}))
    (b / "config.json").write_text(json.dumps({"model": "mobilenetv4_conv_small", "img_size": 32}))
    (a / "tta8.json").write_text(json.dumps({"val_bal": 0.61, "test_bal": 0.62, "f1": 0.41,
                                             "auc": 0.91, "mel": 0.55, "n": 10, "source": "x"}))
    rs = {r["run"]: r for r in report.rows(tmp_path)}
    assert set(rs) == {"student_kd_s0", "student_kd_s1", "student_kd_s0_tta8"}
    assert rs["student_kd_s0"]["gflops"] == pytest.approx(0.122)
    from skinedge.models.build import create_model
    from skinedge.models.classifier import count_flops
    want = count_flops(create_model("mobilenetv4_conv_small", 32, (0.5,) * 3, (0.5,) * 3), 32)
    assert rs["student_kd_s1"]["gflops"] == pytest.approx(want / 1e9) and want > 0
    v8 = rs["student_kd_s0_tta8"]
    assert (v8["arm"], v8["views"], v8["test_bal"]) == ("student_kd_tta8", 8, 0.62)
    assert v8["gflops"] == pytest.approx(8 * 0.122)
    assert "source" not in v8
