"""`skinedge pipeline --preset smoke`: every stage on the shipped sample, then a rerun that
skips them all."""
from __future__ import annotations

import json

from helpers import run_cli


def test_smoke_pipeline_runs_every_stage_then_skips_them(tmp_path):
    out = tmp_path / "run"
    r = run_cli("pipeline", "--preset", "smoke", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in ("synth", "sample", "pretrain", "teacher", "student", "eval", "export", "bench"):
        assert f"[{stage}] running" in r.stdout
    summary = (out / "summary.md").read_text()
    assert "| student | mobilenetv4_conv_small @ 64px |" in summary
    assert "reconstructions.png" in summary and (out / "pretrain" / "reconstructions.png").is_file()
    student = json.loads((out / "student" / "best" / "card.json").read_text())
    assert student["training"]["config"]["teacher"] == [str(out / "teacher" / "best")]
    assert student["training"]["synthetic"]["n_synthetic"] == 14      # 2 per class
    assert "used by: pretrain, teacher, student (`--synthetic all`)" in summary
    teacher = json.loads((out / "teacher" / "best" / "card.json").read_text())
    assert teacher["training"]["init"]["stage"] == "mae"
    again = run_cli("pipeline", "--preset", "smoke", "--out", str(out), "--no-progress")
    assert again.returncode == 0 and "running" not in again.stdout
    assert again.stdout.count("complete, skipped") == 8
    changed = run_cli("pipeline", "--preset", "cpu", "--out", str(out), "--no-progress")
    assert changed.returncode == 2 and "preset" in changed.stderr


def test_synthetic_choice_decides_which_stages_see_the_synthetic_images(tmp_path):
    from pathlib import Path

    from skinedge.pipeline import PipelineConfig, synthetic_for

    root = Path("RUN")
    seen = lambda **kw: [s for s in ("pretrain", "teacher", "student")
                         if synthetic_for(PipelineConfig(out="RUN", **kw), root, s)]
    assert seen(preset="smoke") == ["pretrain", "teacher", "student"]
    assert seen(preset="cpu") == []  # what the ablation chose: arms (b), (e), (g)
    assert seen(preset="gpu") == ["pretrain"]
    assert seen(preset="cpu", synthetic="all") == ["pretrain", "teacher", "student"]
    assert seen(preset="smoke", synthetic="none") == []
    assert synthetic_for(PipelineConfig(out="RUN", preset="gpu"), root, "pretrain") == \
        str(root / "synthetic")
    assert synthetic_for(PipelineConfig(out="RUN", preset="cpu"), root, "pretrain") is None


def test_synthetic_none_skips_the_diffusion_stages(tmp_path):
    out = tmp_path / "run"
    r = run_cli("pipeline", "--preset", "smoke", "--synthetic", "none", "--stop-after",
                "pretrain", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[synth] not needed (--synthetic none)" in r.stdout
    assert "[sample] not needed (--synthetic none)" in r.stdout
    assert not (out / "synth").exists() and not (out / "synthetic").exists()
    assert json.loads((out / "pretrain" / "config.json").read_text())["synthetic"] is None
