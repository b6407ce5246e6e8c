"""One error path (issue 11, items 4 and 5): every failure a user can cause ends as one line
naming the flag or file, exit 2; nothing a command did not write is deleted or overwritten;
the export report merges; work folders of killed exports go; NaN never scores.

Each test is named after the case of the probe campaign it keeps fixed."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from skinedge.api import DEFAULT_MODEL, SAMPLE_DATA
from skinedge.atomic import write_json, write_text
from skinedge.cli import PredictOptions, main
from skinedge.errors import ConfigError, DataError, OutputError, SkinedgeError

# -- helpers ---------------------------------------------------------------------------------


def _cli(capsys, *argv) -> tuple[int, str, str]:
    """``skinedge ARGV`` in this process: (exit code, stderr, stdout). A usage error exits
    inside argparse; anything else must come back as a code, never as an exception."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, err, out


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("skinedge: warning")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def small_data(tmp_path) -> Path:
    """40 images of the shipped sample, in its layout."""
    dest = tmp_path / "data"
    (dest / "images").mkdir(parents=True)
    with open(SAMPLE_DATA / "HAM10000_metadata.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)[:40]
        fields = reader.fieldnames
    with open(dest / "HAM10000_metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        shutil.copy(SAMPLE_DATA / "images" / f"{r['image_id']}.jpg", dest / "images")
    return dest


def _edited_default_model(dest: Path, edit) -> Path:
    """The shipped model after ``edit(model, card) -> card``, saved as a new checkpoint."""
    from skinedge.checkpoint import load_checkpoint, save_checkpoint

    model, card = load_checkpoint(DEFAULT_MODEL)
    with torch.no_grad():
        card = edit(model, card)
    save_checkpoint(dest, model, card)
    return dest


# -- flags are range-checked when parsed: one line, exit 2 -----------------------------------

PARSE_CASES = [
    (("train", "--out", "R", "--lr", "-1"), "--lr"),
    (("train", "--out", "R", "--seed", "-1"), "--seed"),
    (("train", "--out", "R", "--workers", "-1"), "--workers"),
    (("train", "--out", "R", "--drop-rate", "5"), "--drop-rate"),
    (("train", "--out", "R", "--label-smoothing", "2"), "--label-smoothing"),
    (("train", "--out", "R", "--img-size", "100000"), "--img-size"),
    (("train", "--out", "R", "--lr", "nan"), "--lr"),
    (("train", "--out", "R", "--seed", "99999999999999999999"), "--seed"),
    (("train", "--out", "R", "--split-fractions", "0.7,-0.1,0.4"), "--split-fractions"),
    (("distill", "--out", "R", "--teacher", "T", "--temperature", "0"), "--temperature"),
    (("distill", "--out", "R", "--teacher", "T", "--kd-weight", "3"), "--kd-weight"),
    (("pretrain", "--out", "R", "--seed", "-1"), "--seed"),
    (("pretrain", "--out", "R", "--mask-ratio", "1"), "--mask-ratio"),
    (("pretrain", "--out", "R", "--lr", "inf"), "--lr"),
    (("pipeline", "--out", "R", "--seed", "-1"), "--seed"),
    (("synth", "train", "--out", "R", "--cond-drop", "1.5"), "--cond-drop"),
    (("bench", "--runs", "0"), "--runs"),
    (("bench", "--threads", "-1"), "--threads"),
    (("bench", "--rounds", "0"), "--rounds"),
    (("bench", "--batch-sizes", "1,0"), "--batch-sizes"),
    (("bench", "--timeout", "-5"), "--timeout"),
    (("predict", "x.jpg", "--top-k", "0"), "--top-k"),
    (("predict", "x.jpg", "--top-k", "-5"), "--top-k"),
]


@pytest.mark.parametrize("argv, flag", PARSE_CASES, ids=[" ".join(a) for a, _ in PARSE_CASES])
def test_out_of_range_flags_are_refused_when_parsed(capsys, tmp_path, argv, flag):
    argv = tuple(str(tmp_path / a) if a in ("R", "T") else a for a in argv)
    code, err, _ = _cli(capsys, *argv)
    line = _one_line(err)
    assert code == 2 and f"argument {flag}" in line and "must be" in line, line
    assert not (tmp_path / "R").exists()  # refused before any work


@pytest.mark.parametrize("args, flag", [(("--per-class", "0"), "--per-class"),
                                        (("--balance-to", "-3"), "--balance-to"),
                                        (("--per-class", "1", "--seed", "-1"), "--seed")])
def test_synth_sample_names_the_flag_out_of_range(capsys, tmp_path, args, flag):
    code, err, _ = _cli(capsys, "synth", "sample", str(tmp_path / "run"), "--out",
                        str(tmp_path / "syn"), *args)
    assert code == 2 and _one_line(err).startswith(f"skinedge synth: error: {flag} ")
    assert not (tmp_path / "syn").exists()


def test_a_usage_error_is_one_line_too(capsys):
    code, err, _ = _cli(capsys, "train", "--lr", "1")  # --out missing
    assert code == 2 and "--out" in _one_line(err)


def test_every_numeric_option_of_every_config_has_a_range():
    import typing
    from dataclasses import fields

    from skinedge.bench.runner import BenchConfig
    from skinedge.cli import EvalOptions
    from skinedge.exporting import ExportConfig
    from skinedge.pipeline import PipelineConfig
    from skinedge.pretrain.config import PretrainConfig
    from skinedge.synth.config import SynthConfig
    from skinedge.train.config import TrainConfig
    from skinedge.train.distill import DistillConfig

    unbounded = []
    for cls in (TrainConfig, DistillConfig, PretrainConfig, SynthConfig, ExportConfig,
                BenchConfig, PipelineConfig, EvalOptions, PredictOptions):
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            kinds = {hints[f.name], *typing.get_args(hints[f.name])}
            kinds |= {a for k in list(kinds) for a in typing.get_args(k)}
            numeric = kinds & {int, float} and bool not in kinds
            bounded = any(b is not None for b in f.metadata.get("bounds", ()))
            if f.metadata.get("cli") and numeric and not bounded:
                unbounded.append(f"{cls.__name__}.{f.name}")
    assert not unbounded, unbounded


# -- the Python API: configs reject out-of-range values and wrong types ----------------------

def _configs():
    from skinedge.bench.runner import BenchConfig
    from skinedge.pipeline import PipelineConfig
    from skinedge.pretrain.config import PretrainConfig
    from skinedge.synth.config import SynthConfig
    from skinedge.train.config import TrainConfig
    from skinedge.train.distill import DistillConfig

    return [
        (TrainConfig, {"out": "o", "lr": -1.0}, "--lr"),
        (TrainConfig, {"out": "o", "seed": -1}, "--seed"),
        (TrainConfig, {"out": "o", "workers": -1}, "--workers"),
        (TrainConfig, {"out": "o", "drop_rate": 5.0}, "--drop-rate"),
        (TrainConfig, {"out": "o", "label_smoothing": 2.0}, "--label-smoothing"),
        (TrainConfig, {"out": "o", "img_size": 100000}, "--img-size"),
        (TrainConfig, {"out": "o", "lr": float("nan")}, "--lr"),
        (TrainConfig, {"out": "o", "epochs": "10"}, "--epochs"),
        (TrainConfig, {"out": "o", "epochs": True}, "--epochs"),
        (TrainConfig, {"out": "o", "balance": "sometimes"}, "--balance"),
        (DistillConfig, {"out": "o", "teacher": ("t",), "temperature": 0.0}, "--temperature"),
        (DistillConfig, {"out": "o", "teacher": ("t",), "kd_weight": 3.0}, "--kd-weight"),
        (PretrainConfig, {"out": "o", "seed": -1}, "--seed"),
        (PretrainConfig, {"out": "o", "workers": -1}, "--workers"),
        (SynthConfig, {"out": "o", "seed": -1}, "--seed"),
        (BenchConfig, {"runs": 0}, "--runs"),
        (BenchConfig, {"threads": -1}, "--threads"),
        (BenchConfig, {"rounds": 0}, "--rounds"),
        (PipelineConfig, {"out": "o", "seed": -1}, "--seed"),
        (PredictOptions, {"top_k": 0}, "--top-k"),
    ]


@pytest.mark.parametrize("i", range(len(_configs())))
def test_configs_built_in_python_reject_bad_values(i):
    cls, kw, flag = _configs()[i]
    with pytest.raises(ConfigError, match=re.escape(flag)):
        cls(**kw)


def test_a_saved_config_with_a_wrong_type_names_its_file(tmp_path):
    from skinedge.train.config import TrainConfig

    saved = tmp_path / "config.json"
    doc = TrainConfig(out="o").to_dict()
    saved.write_text(json.dumps({**doc, "lr": "fast"}))
    with pytest.raises(ConfigError, match=re.escape(str(saved)) + ".*--lr 'fast'"):
        TrainConfig.load(saved)
    saved.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=re.escape(str(saved))):
        TrainConfig.load(saved)


# -- recipes are type- and range-checked when read (not after a conversion) ------------------

@pytest.mark.parametrize("text, needle", [
    ('[parity]\nimages = "many"\n', "[parity] images 'many': must be an int"),
    ('[calibration]\nimages = 0\n', "[calibration] images 0: must be in [1, "),
    ('[calibration]\nsplit = "tran"\n', "[calibration] split 'tran': must be one of"),
    ("[parity]\nmin_top1_agreement = 1.01\n", "min_top1_agreement 1.01: must be in [0, 1]"),
    ('[parity]\nmin_cosine = "high"\n', "min_cosine 'high': must be a float"),
    ("[parity]\nmax_abs_diff = nan\n", "max_abs_diff nan: must be a finite number"),
    ("[parity]\nmax_balanced_accuracy_drop = -0.5\n", "max_balanced_accuracy_drop -0.5"),
    ('default = "yes"\n', "default 'yes': must be a bool"),
    ("options = 3\n", "options 3: must be a table"),
])
def test_recipe_values_of_the_wrong_type_or_range_fail_when_read(tmp_path, text, needle):
    from skinedge.recipes import Recipe

    path = tmp_path / "r.toml"
    head, _, rest = text.partition("[")
    path.write_text(f'target = "onnx"\nquantization = "fp32"\n{head}' + (f"[{rest}" if rest else ""))
    with pytest.raises(ConfigError) as exc:
        Recipe.from_file(path)
    assert str(path) in str(exc.value) and needle in str(exc.value), exc.value


def test_a_recipe_that_is_binary_or_a_folder_is_refused(tmp_path):
    from skinedge.recipes import Recipe, by_name_or_file

    binary = tmp_path / "b.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match=re.escape(f"{binary}: not a text file")):
        Recipe.from_file(binary)
    (tmp_path / "d.toml").mkdir()
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'd.toml'}: cannot read")):
        by_name_or_file(str(tmp_path / "d.toml"))


def test_an_impossible_tolerance_fails_parity_and_leaves_nothing(tmp_path):
    """(min_top1_agreement = 1.01 is now refused when read; max_abs_diff = 0 cannot be met by
    an int8 artifact.)"""
    strict = tmp_path / "strict.toml"
    strict.write_text('target = "onnx"\nquantization = "int8"\n[calibration]\nimages = 16\n'
                      "[parity]\nimages = 32\nmax_abs_diff = 0.0\n")
    r = subprocess.run([sys.executable, "-m", "skinedge.cli", "export", "--recipe", str(strict),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "max |Δprob|" in r.stdout and "not written" in r.stderr
    assert not list((tmp_path / "out").glob("*.onnx"))
    assert not list((tmp_path / "out").glob(".export-*"))


# -- --out: a file, or a place that cannot be written: a clear error before work starts -------

def _unwritable(tmp_path) -> list[Path]:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    places = [afile, afile / "sub"]
    if os.geteuid() != 0:  # root writes anywhere a permission bit forbids
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        places.append(ro / "out")
    elif Path("/sys").is_dir():  # a read-only file system
        places.append(Path("/sys/skinedge-test-out"))
    return places


@pytest.mark.parametrize("command", [("export", "--target", "onnx"), ("bench", "--target", "eager"),
                                     ("pipeline", "--preset", "smoke"), ("train", "--epochs", "1")])
def test_out_that_is_a_file_or_read_only_fails_before_work(capsys, tmp_path, command):
    for out in _unwritable(tmp_path):
        code, err, _ = _cli(capsys, *command, "--out", str(out))
        line = _one_line(err)
        assert code == 2 and f"--out {out}" in line, line
    assert (tmp_path / "afile").read_text() == "mine"


def test_eval_plot_into_an_unwritable_place_fails_before_scoring(capsys, tmp_path, monkeypatch):
    import skinedge.api
    from skinedge.evaluate import evaluate

    def must_not_load(*a, **k):
        raise AssertionError("the model was loaded and scored before the plot path was checked")

    monkeypatch.setattr(skinedge.api, "load", must_not_load)
    for plot in (tmp_path / "missing" / "c.png", tmp_path, Path("/proc/skinedge-c.png"),
                 tmp_path / "c.txt", tmp_path / "c"):
        with pytest.raises(ConfigError, match=re.escape(f"--plot {plot}")):
            evaluate(None, SAMPLE_DATA, "test", plot)
        for flag in ("--plot", "--reliability-plot"):
            code, err, _ = _cli(capsys, "eval", flag, str(plot))
            assert code == 2 and f"{flag} {plot}" in _one_line(err)


# -- OSError while writing: one line naming the path -----------------------------------------

def test_os_errors_while_writing_name_the_path(tmp_path):
    with pytest.raises(OutputError, match=re.escape(f"{tmp_path}: is a folder")):
        write_json(tmp_path, {})
    if Path("/dev/full").exists():
        with pytest.raises(OutputError, match="disk full at /dev/full: no space left"):
            write_text("/dev/full", "x" * 100_000)
    (tmp_path / "afile").write_text("")
    with pytest.raises(OutputError, match=re.escape(str(tmp_path / "afile" / "x.json"))):
        write_json(tmp_path / "afile" / "x.json", {})


def test_an_os_error_in_any_command_is_one_line_exit_2(capsys, monkeypatch):
    import skinedge.cli

    def denied(a):
        raise PermissionError(13, "Permission denied", "/somewhere/results.json")

    monkeypatch.setattr(skinedge.cli, "_run_bench", denied)
    code, err, _ = _cli(capsys, "bench")
    line = _one_line(err)
    assert code == 2 and "/somewhere/results.json: Permission denied" in line, line


# -- bench: a missing model, or nothing that can be measured, is an error before any work ----

def test_bench_of_a_missing_or_unreadable_model_is_one_line_exit_2(capsys, tmp_path):
    code, err, _ = _cli(capsys, "bench", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "b"))
    assert code == 2 and f"{tmp_path / 'nope.onnx'}: no such" in _one_line(err)
    (tmp_path / "empty.onnx").write_bytes(b"")
    code, err, _ = _cli(capsys, "bench", str(tmp_path / "empty.onnx"), "--out", str(tmp_path / "b"),
                        "--target", "onnx", "--no-compile")
    line = _one_line(err)
    assert code == 2 and "nothing to benchmark" in line and "empty.onnx" in line, line


def test_eval_names_the_model_whose_split_does_not_fit_the_data(capsys, tmp_path):
    def forget_training(model, card):
        return card.with_(training={})

    other = _edited_default_model(tmp_path / "other", forget_training)
    (other / "split.json").unlink(missing_ok=True)
    code, err, _ = _cli(capsys, "eval", str(other))
    line = _one_line(err)
    assert code == 2 and str(other) in line and "--split all" in line, line


# -- export: refuses to replace what it did not write -----------------------------------------

def test_export_refuses_a_folder_that_has_an_artifacts_name(tmp_path):
    from skinedge.exporting import ExportConfig, run_export

    from skinedge.card import ModelCard
    from skinedge.layout import DEFAULT_MODEL

    arch = ModelCard.load(DEFAULT_MODEL / "card.json").architecture  # the shipped model's name
    mine = tmp_path / "out" / f"{arch}_onnx_fp32.onnx"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my work")
    with pytest.raises(OutputError, match=re.escape(str(mine)) + ".*not written by skinedge export"):
        run_export(ExportConfig(target="onnx", out=str(tmp_path / "out"), progress=False))
    assert (mine / "notes.txt").read_text() == "my work"
    assert not list((tmp_path / "out").glob(".export-*"))


def test_moving_an_artifact_in_refuses_what_appeared_meanwhile(tmp_path):
    from skinedge.export_folder import ExportFolder

    folder = ExportFolder(tmp_path / "out")
    with folder.work_dir() as work:
        (Path(work) / "m.onnx").write_text("new")
        (folder.root / "m.onnx").mkdir()  # appeared while the artifact was converted
        with pytest.raises(OutputError, match="m.onnx: exists and was not written"):
            folder.keep(Path(work))
    assert (folder.root / "m.onnx").is_dir()
    # what an earlier export wrote (its report lists it) is replaced, sidecar included
    (folder.root / "m.onnx").rmdir()
    (folder.root / "m.onnx").write_text("old")
    (folder.root / "m.card.json").write_text("old")
    write_json(folder.report, {"results": [{"recipe": "r", "path": str(folder.root / "m.onnx")}]})
    with folder.work_dir() as work:
        (Path(work) / "m.onnx").write_text("new")
        (Path(work) / "m.card.json").write_text("new")
        folder.keep(Path(work))
    assert (folder.root / "m.onnx").read_text() == (folder.root / "m.card.json").read_text() == "new"


def test_export_report_that_is_not_a_report_is_refused(tmp_path):
    from skinedge.export_folder import ExportFolder

    (tmp_path / "export_report.json").write_text("my notes, not JSON")
    with pytest.raises(OutputError, match="export_report.json: not an export report"):
        ExportFolder(tmp_path)
    assert (tmp_path / "export_report.json").read_text() == "my notes, not JSON"


def test_export_names_a_recipe_setting_not_a_split_flag(tmp_path):
    """Export has no --split: when the model's split does not fit the data, it says which
    recipe setting scores every image instead (and fails before any conversion)."""
    from skinedge.exporting import ExportConfig, run_export

    data = tmp_path / "data"
    shutil.copytree(SAMPLE_DATA, data)
    csv_path = data / "HAM10000_metadata.csv"
    rows = list(csv.DictReader(open(csv_path, newline="")))
    extra = {**rows[0], "image_id": "ISIC_9999999", "lesion_id": "HAM_9999999"}
    shutil.copy(data / "images" / f"{rows[0]['image_id']}.jpg", data / "images" / "ISIC_9999999.jpg")
    with open(csv_path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(extra)
    with pytest.raises(DataError) as exc:
        run_export(ExportConfig(target="onnx", data=str(data), out=str(tmp_path / "out"),
                                progress=False))
    assert "--split" not in str(exc.value) and 'split = "all"' in str(exc.value), exc.value
    assert not list((tmp_path / "out").glob("*.onnx"))


# -- the export report merges; stale work folders go -----------------------------------------

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_successive_exports_merge_the_report_and_clear_stale_work(tmp_path):
    from skinedge.export_folder import _host
    from skinedge.exporting import ExportConfig, run_export
    from skinedge.recipes import all_recipes

    out = tmp_path / "out"
    stale = out / f".export-{_dead_pid()}@{_host()}.abc123"
    (stale / "half.onnx").mkdir(parents=True)
    plain, views = (replace(all_recipes()[n], parity_images=16) for n in ("onnx-fp32", "onnx-fp32-tta8"))
    cfg = ExportConfig(out=str(out), progress=False)
    [a] = run_export(cfg, [plain])
    assert not stale.exists()
    [b] = run_export(cfg, [views])
    [a2] = run_export(cfg, [plain])  # the same artifact again: replaced, one entry
    assert a.status == b.status == a2.status == "ok"
    report = json.loads((out / "export_report.json").read_text())
    assert [(e["artifact"], e["recipe"]) for e in report["results"]] == [
        (Path(a.path).name, "onnx-fp32"), (Path(b.path).name, "onnx-fp32-tta8")]
    assert all(e["model"] == str(DEFAULT_MODEL) for e in report["results"])


def test_concurrent_exports_merge_the_report(tmp_path):
    """Six processes record five artifacts each into one folder at the same time."""
    code = textwrap.dedent("""
        import sys
        from dataclasses import dataclass
        from skinedge.export_folder import ExportFolder

        @dataclass
        class Result:
            recipe: str
            status: str = "ok"
            path: str = ""

        folder, who = ExportFolder(sys.argv[1]), sys.argv[2]
        for i in range(5):
            name = f"{who}_{i}.onnx"
            folder.record([Result(name, path=str(folder.root / name))], [name],
                          {"model": who, "data": "d", "host": "h"})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{k}"])
             for k in range(6)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert sorted(e["artifact"] for e in report["results"]) == sorted(
        f"p{k}_{i}.onnx" for k in range(6) for i in range(5))


def test_only_work_folders_of_gone_processes_are_removed(tmp_path):
    from skinedge.export_folder import ExportFolder, _host

    folder = ExportFolder(tmp_path)
    dead = tmp_path / f".export-{_dead_pid()}@{_host()}.a1"
    live = tmp_path / f".export-{os.getpid()}@{_host()}.b2"
    elsewhere = tmp_path / f".export-{_dead_pid()}@another-host.c3"
    old, young = tmp_path / ".export-legacy1", tmp_path / ".export-legacy2"
    for p in (dead, live, elsewhere, old, young):
        p.mkdir()
    os.utime(old, (0, 0))
    folder.remove_stale()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, elsewhere, young))


# -- eval: other labels, non-finite outputs ---------------------------------------------------

def test_eval_of_a_model_with_other_labels_is_a_clear_error(capsys, tmp_path, small_data):
    from skinedge.card import ModelCard
    from skinedge.checkpoint import save_checkpoint
    from skinedge.evaluate import evaluate
    from skinedge.models import count_flops, create_model

    model = create_model("mobilenetv4_conv_small", 32, (0.5,) * 3, (0.2,) * 3, num_classes=3)
    card = ModelCard(architecture="mobilenetv4_conv_small", input_size=32, mean=(0.5,) * 3,
                     std=(0.2,) * 3, params=sum(p.numel() for p in model.parameters()),
                     flops=count_flops(model, 32), labels=("mel", "nv", "bkl"),
                     label_names=("Melanoma", "Melanocytic nevi", "Benign keratosis"))
    save_checkpoint(tmp_path / "three", model, card)
    with pytest.raises(ConfigError, match="the model's labels \\(mel, nv, bkl\\) are not"):
        evaluate(tmp_path / "three", small_data, "all")
    code, err, _ = _cli(capsys, "eval", str(tmp_path / "three"), "--data", str(small_data),
                        "--split", "all")
    assert code == 2 and "labels" in _one_line(err)


def test_eval_scores_a_model_whose_labels_are_in_another_order(tmp_path, small_data):
    from skinedge.evaluate import evaluate

    def reverse(model, card):
        head = model.backbone.get_classifier()
        head.weight.copy_(head.weight.flip(0))
        head.bias.copy_(head.bias.flip(0))
        return card.with_(labels=card.labels[::-1], label_names=card.label_names[::-1])

    flipped = _edited_default_model(tmp_path / "flipped", reverse)
    a = evaluate(DEFAULT_MODEL, small_data, "all", progress=False)
    b = evaluate(flipped, small_data, "all", progress=False)
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["labels"] == b["labels"]
    assert b["balanced_accuracy"] == pytest.approx(a["balanced_accuracy"])


def test_eval_of_a_model_with_nan_outputs_is_an_error_not_a_score(capsys, tmp_path, small_data):
    from skinedge.evaluate import evaluate

    def poison(model, card):
        model.backbone.get_classifier().bias.fill_(float("nan"))
        return card

    broken = _edited_default_model(tmp_path / "nan", poison)
    with pytest.raises(SkinedgeError, match="(?i)nan|finite"):
        evaluate(broken, small_data, "all", progress=False)
    code, err, out = _cli(capsys, "eval", str(broken), "--data", str(small_data), "--split",
                          "all", "--json")
    assert code == 2 and re.search("(?i)nan|finite", _one_line(err))
    assert out == ""  # no metrics printed


def test_nan_or_inf_outputs_fail_the_export_parity_check():
    from skinedge.exporting import check_tolerances, parity_report
    from skinedge.recipes import all_recipes

    rng = np.random.default_rng(0)
    eager = rng.normal(size=(20, 7)).astype(np.float32)
    labels = rng.integers(0, 7, 20)
    recipe = replace(all_recipes()["onnx-fp32"], max_abs_diff=1.0, min_cosine=-1.0,
                     min_top1_agreement=0.0, max_balanced_accuracy_drop=1.0)  # anything passes
    assert check_tolerances(parity_report(eager, eager.copy(), labels), recipe) == []
    for bad in (np.nan, np.inf, -np.inf):
        art = eager.copy()
        art[3, 2] = bad
        p = parity_report(eager, art, labels)
        problems = check_tolerances(p, recipe)
        assert p["nonfinite_artifact"] == 1 and p["n"] == 20
        assert problems and "non-finite outputs: 1 of 20" in problems[0], problems
        json.loads(json.dumps(p, allow_nan=False))  # the report stays valid JSON
    everything = np.full_like(eager, np.nan)
    p = parity_report(eager, everything, labels)
    assert p["top1_agreement"] is None and check_tolerances(p, recipe)
    p = parity_report(everything, eager, labels)
    assert any("eager model" in s for s in check_tolerances(p, recipe))


def test_an_artifact_whose_runtime_fails_or_gives_nan_is_not_kept(tmp_path):
    from skinedge.exporting import ExportResult, _check
    from skinedge.recipes import all_recipes

    class Images:
        def get(self, split, n, seed=0):
            return np.zeros((4, 3, 8, 8), np.float32), np.arange(4)

        def eager_logits(self, split, n, views=1):
            return np.eye(4, 7, dtype=np.float32)

    def module(run):
        class Runtime:
            def __init__(self, path):
                pass

            def run(self, x):
                return run(x)

        return type("M", (), {"Runtime": Runtime, "can_run_here": staticmethod(lambda: (True, ""))})

    def nan(x):
        return np.full((len(x), 7), np.nan, np.float32)

    def refuse(x):
        raise SkinedgeError("outputs are not finite")

    recipe = all_recipes()["onnx-fp32"]
    for run, needle in ((nan, "non-finite outputs: 4 of 4"), (refuse, "failed to run")):
        res = ExportResult("r", "onnx", "fp32")
        _check(res, module(run), tmp_path / "a.onnx", recipe, Images())
        assert res.status == "failed" and needle in res.problems[0], res.problems
