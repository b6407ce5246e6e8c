"""The ``skinedge`` command. Each subcommand parses its flags into a config once and calls
one library function; errors a user can fix print one line and exit 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dataclasses import dataclass

from .config import Config, option
from .errors import SkinedgeError
from .layout import SAMPLE_DATA


def _add_train(sub) -> None:
    from .train.config import TrainConfig

    p = sub.add_parser("train", help="train a student on HAM10000",
                       description="Train a classifier from scratch on a HAM10000-layout folder: "
                       "lesion-disjoint split, validation every epoch, best checkpoint by balanced "
                       "accuracy, resumable (rerun the same command after an interruption). Under "
                       "torchrun it trains with DDP.")
    TrainConfig.add_arguments(p)
    p.set_defaults(func=_run_train)


def _run_train(a) -> int:
    from .train import TrainConfig, train

    return _report_training(train(TrainConfig.from_args(a)), a.out)


def _report_training(result: dict, out: str) -> int:
    if result:
        t = result["test"]
        print(f"best epoch {result['best_epoch'] + 1}: test balanced accuracy "
              f"{t['balanced_accuracy']:.4f}, macro-F1 {t['macro_f1']:.4f}, n={t['n']} "
              f"-> {Path(out) / 'best'}")
    return 0


def _add_distill(sub) -> None:
    from .train.distill import DistillConfig

    p = sub.add_parser("distill", help="train a student from a teacher (knowledge distillation)",
                       description="Train a student like `skinedge train`, with a teacher "
                       "(any checkpoint: an MAE-pretrained ViT, a supervised CNN, or several as "
                       "an ensemble) scoring the same augmented batch: (1 - w) x label loss + w x "
                       "T^2 x KL(teacher || student) at temperature T, or hard distillation. "
                       "Resumable; DDP under torchrun.")
    DistillConfig.add_arguments(p)
    p.set_defaults(func=_run_distill)


def _run_distill(a) -> int:
    from .train.distill import DistillConfig, distill

    return _report_training(distill(DistillConfig.from_args(a)), a.out)


def _add_teach(sub) -> None:
    from .train.teach import TeachConfig

    p = sub.add_parser("teach", help="write a teacher's logits per training image (for distill)",
                       description="Score every training image of a split with the teacher "
                       "(or an ensemble) under fixed views (the centre crop, or its 8 rotations "
                       "and mirrors) and write the logits to one small safetensors file; "
                       "`skinedge distill --teacher-labels FILE` then trains a student without "
                       "running the teacher. Made for a lent GPU: bring back this file, not the "
                       "teacher's weights.")
    TeachConfig.add_arguments(p)
    p.set_defaults(func=_run_teach)


def _run_teach(a) -> int:
    from .train.teach import TeachConfig, teach

    meta = teach(TeachConfig.from_args(a))
    val = meta["val_balanced_accuracy"]
    print(f"{len(meta['image_ids'])} training images x {meta['views']} views"
          + (f"; teacher val balanced accuracy over the views {val:.4f}" if val is not None else "")
          + f" -> {a.out}")
    return 0


def _add_pipeline(sub) -> None:
    from .pipeline import PipelineConfig

    p = sub.add_parser("pipeline", help="the whole method: synth -> MAE -> teacher -> student "
                       "-> eval -> export -> bench",
                       description="Run every stage of the paper's method into one run folder: "
                       "class-conditioned latent diffusion and a rebalancing set, MAE "
                       "pre-training of a ViT on real + synthetic images, teacher fine-tuning, "
                       "distillation into the student, test evaluation, export with parity "
                       "checks, host benchmark, and RUN/summary.md with plots. Each stage "
                       "resumes and is skipped when complete: rerun the same command. Synthetic "
                       "images go where --synthetic says. On the development data the "
                       "ablation measured students on real + synthetic below students on real "
                       "alone, and MAE on real + synthetic no better than on real: so the cpu "
                       "preset skips the diffusion stages (none) and the gpu preset, whose "
                       "larger diffusion model was not measured, gives its images to MAE only "
                       "(pretrain).")
    PipelineConfig.add_arguments(p)
    p.set_defaults(func=_run_pipeline)


def _run_pipeline(a) -> int:
    from .pipeline import PipelineConfig, run_pipeline

    print(f"summary: {run_pipeline(PipelineConfig.from_args(a))}")
    return 0


@dataclass(frozen=True)
class EvalOptions(Config):
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder",
                       default_text="the sample shipped with skinedge")
    split: str = option("test", "the model's test/val split of DATA, or every labelled image",
                        choices=("test", "val", "all"))
    json: bool = option(False, "print the metrics as JSON")
    plot: str | None = option(None, "confusion-matrix PNG", default_text="confusion_SPLIT.png "
                              "in the model's run folder when MODEL is a checkpoint of a run; "
                              "none otherwise")
    reliability_plot: str | None = option(None, "reliability-diagram PNG (before and after "
                                          "calibration)", default_text="reliability_SPLIT.png "
                                          "beside the confusion matrix; none without one")
    bootstrap: int = option(1000, "resamples of whole lesions for the 95 percent intervals (0: none)",
                            min=0)


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score a model on labelled images",
                       description="Balanced accuracy, macro-F1, one-vs-rest AUC, per-class "
                       "recall/precision/F1 and a confusion-matrix plot for a checkpoint folder or "
                       "an exported artifact.")
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder or artifact (default: the shipped model)")
    EvalOptions.add_arguments(p)
    p.set_defaults(func=_run_eval)


def _default_plot(model: str | None, split: str) -> Path | None:
    """Beside the run a checkpoint came from (``RUN/best`` -> ``RUN/confusion_test.png``)."""
    from .layout import RunFolder

    if model and (Path(model) / "card.json").is_file():
        run = RunFolder(Path(model).resolve().parent)
        if run.config.is_file():
            return run.confusion(split)
    return None


def _run_eval(a) -> int:
    from .evaluate import evaluate

    o = EvalOptions.from_args(a)
    plot = Path(o.plot) if o.plot else _default_plot(a.model, o.split)
    rel = (Path(o.reliability_plot) if o.reliability_plot
           else plot.with_name(f"reliability_{o.split}.png") if plot else None)
    m = evaluate(a.model, o.data, o.split, plot, progress=not o.json, bootstrap=o.bootstrap,
                 reliability_plot=rel)
    if o.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"{m['model']} [{m['target']}] on {m['split']} of {m['data']}: n={m['n']}")
    iv = m["trust"].get("intervals", {})

    def ci(key: str) -> str:
        return f" [{iv[key][0]:.3f}, {iv[key][1]:.3f}]" if key in iv else ""

    print(f"  balanced accuracy {m['balanced_accuracy']:.4f}{ci('balanced_accuracy')}  macro-F1 "
          f"{m['macro_f1']:.4f}{ci('macro_f1')}  accuracy {m['accuracy']:.4f}{ci('accuracy')}  "
          f"AUC(ovr) {m['auc_ovr']:.4f}{ci('auc_ovr')}")
    print(f"  {'class':6} {'recall':>7} {'(95% interval)':>15} {'prec':>7} {'f1':>7} {'n':>5}")
    for c, v in m["per_class"].items():
        print(f"  {c:6} {v['recall']:7.3f} {ci(f'recall/{c}'):>15} {v['precision']:7.3f} "
              f"{v['f1']:7.3f} {v['support']:5d}")
    print(f"  confusion matrix: {plot}" if plot else "  (add --plot FILE.png for a confusion matrix)")
    from .trust import format_report

    print("\n".join(format_report(m["trust"])))
    if rel:
        print(f"  reliability diagram: {rel}")
    return 0


def _add_export(sub) -> None:
    from .exporting import ExportConfig

    p = sub.add_parser("export", help="quantize and export to ExecuTorch, CoreML, ONNX",
                       description="Export a checkpoint to phone-ready artifacts. Each artifact "
                       "embeds the model card, is compared with the eager model on real "
                       "validation images, and is kept only if it meets its recipe's tolerances "
                       "(recipes: export/*.toml). CoreML numeric parity needs macOS; on Linux the "
                       "package's structure is verified instead.")
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder (default: the shipped model)")
    ExportConfig.add_arguments(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_run_export)


def _run_export(a) -> int:
    from dataclasses import asdict

    from .exporting import ExportConfig, format_table, run_export

    results = run_export(ExportConfig.from_args(a, model=a.model, progress=not a.json))
    print(json.dumps([asdict(r) for r in results], indent=2) if a.json else format_table(results))
    if a.golden and not a.json:
        print(f"golden vectors (format: its README.md) -> {Path(a.out) / 'golden'}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"skinedge export: {len(failed)} artifact(s) failed their parity check and were "
              "not written: " + ", ".join(r.recipe for r in failed), file=sys.stderr)
    return 1 if failed else 0


@dataclass(frozen=True)
class PredictOptions(Config):
    model: str | None = option(None, "checkpoint folder, .pte, .onnx or .mlpackage",
                               default_text="the shipped model")
    top_k: int = option(3, "how many of the most likely classes to show", min=1)
    json: bool = option(False, "print the predictions as JSON")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="classify images with any model or artifact",
                       description="Classify dermoscopic images (JPEG/PNG/...) with a checkpoint "
                       "or any exported artifact. A bad image is reported; the others still run.")
    p.add_argument("images", nargs="+", help="image files")
    PredictOptions.add_arguments(p)
    p.set_defaults(func=_run_predict)


def _run_predict(a) -> int:
    from .api import load
    from .card import printable
    from .labels import CLASS_NAMES

    o = PredictOptions.from_args(a)
    clf = load(o.model)
    results = clf.predict(a.images, top_k=min(o.top_k, len(clf.labels)))
    if o.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))  # the exact values
    else:
        for r in results:  # one line per image, as the README promises: names are escaped
            if r.error:
                print(printable(f"{r.source}: ERROR {r.error}"))
                continue
            top = ", ".join(f"{l} {p:.3f}" for l, p in r.top_k)
            print(printable(f"{r.source}: {r.label} ({CLASS_NAMES.get(r.label, r.label)})  "
                            f"[{top}]  {_trust_text(r)}"))
    if not o.json:
        iu = clf.card.intended_use
        said = iu["summary"] if iu else "not stated in this model card"
        print(printable(f"intended use: {said}"), file=sys.stderr)
    bad = sum(1 for r in results if r.error)
    if bad:
        print(f"skinedge predict: {bad} of {len(results)} image(s) failed (unreadable, or "
              "no finite model output); the others were classified", file=sys.stderr)
    return 1 if bad else 0


def _trust_text(r) -> str:
    """One line: calibration, malignant probability, referral and the input gate's verdict."""
    cal = "calibrated" if r.calibrated else "UNCALIBRATED (the card has no calibration)"
    mal = f"malignant p={r.malignant_probability:.3f}" if r.malignant_probability is not None else ""
    ref = ("" if r.refer is None else
           f"{'REFER' if r.refer else 'no referral'} (threshold {r.threshold:.4f})")
    gate = ("" if r.gate is None else "input ok" if r.gate["usable"]
            else "input NOT USABLE: " + "; ".join(r.gate["reasons"]))
    return "  ".join(x for x in (cal, mal, ref, gate) if x)


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise a checkpoint or artifact and check it",
                       description="Summarise the model card embedded in a checkpoint or artifact "
                       "(architecture, input and normalisation, labels, quantization, size, "
                       "validation metrics), check its integrity hash (one sha256 over the card "
                       "and the weights or graph; a .pte's sidecar against its embedded card) "
                       "and the file's structure (inputs, outputs, labels, precision) against "
                       "the card. Exit 1 if a check fails.")
    p.add_argument("artifact")
    p.add_argument("--json", action="store_true", help="print the raw model card as JSON")
    p.set_defaults(func=_run_inspect)


def _run_inspect(a) -> int:
    from .card import printable
    from .targets.summary import format_inspection, inspect_artifact

    i = inspect_artifact(a.artifact)
    print(json.dumps(i.card.to_dict(), indent=2) if a.json else format_inspection(i))
    if not i.ok:
        print(printable(f"skinedge inspect: {a.artifact}: " + "; ".join(
            filter(None, (i.sha256_problem, *i.problems)))), file=sys.stderr)
    return 0 if i.ok else 1


def _add_bench(sub) -> None:
    from .bench.device import DeviceOptions
    from .bench.runner import BenchConfig

    p = sub.add_parser("bench", help="latency, memory, size, FLOPs, accuracy of every artifact",
                       description="Benchmark checkpoints and artifacts, each runtime in its own "
                       "process, interleaved over rounds, with eager PyTorch fp32, torch.compile "
                       "and plain onnxruntime fp32 as baselines. A checkpoint is first exported to "
                       "every preset. Results: JSON, Markdown and plots under --out; the "
                       "repository's recorded results are in benchmarks/results. With --device "
                       "the artifacts run on a phone (Android over adb, iOS with xcrun "
                       "devicectl) and come back in the same schema; --import merges the JSON of "
                       "the demo apps' benchmark screens (benchmarks/README.md).")
    p.add_argument("models", nargs="*", help="checkpoint folders or artifacts (default: the "
                   "shipped model, exported to every target and quantization); with --import, "
                   "the JSON files")
    BenchConfig.add_arguments(p)
    DeviceOptions.add_arguments(p)
    p.add_argument("--json", action="store_true", help="print the results JSON")
    p.set_defaults(func=_run_bench)


def _run_bench(a) -> int:
    from .bench.report import markdown
    from .bench.runner import BenchConfig, run_bench

    cfg = BenchConfig.from_args(a, models=tuple(a.models), progress=not a.json)
    if a.device or a.import_json:
        from .bench.device import DeviceOptions, main as device_main

        return device_main(cfg, DeviceOptions.from_args(a), a.json)
    doc = run_bench(cfg)
    print(json.dumps(doc, indent=2) if a.json else markdown(doc))
    failed = [r["name"] for r in doc["rows"] if r["status"] == "failed"]
    if failed:
        print(f"skinedge bench: {len(failed)} row(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


class _Parser(argparse.ArgumentParser):
    """A usage error is one line and exit 2, like every other error (subcommands inherit it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="skinedge", description="Train, export, run and benchmark "
                "an on-device skin-lesion classifier (HAM10000, 7 classes).")
    p.add_argument("--version", action="version", version=f"skinedge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .calibrate import add_calibrate
    from .data.cli import add_cache
    from .pretrain.cli import add_pretrain
    from .synth.cli import add_synth

    for add in (_add_train, _add_distill, _add_teach, _add_pipeline, _add_eval, _add_export, _add_predict, _add_inspect, _add_bench,
                add_synth, add_pretrain, add_cache, add_calibrate):
        add(sub)
    return p


def _quiet_backends() -> None:
    """Silence version-check chatter that backends log on import (coremltools warns about
    scikit-learn/torch versions and missing macOS libraries; torch about pytree enums)."""
    import logging

    for name in ("coremltools", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _new_folder(args) -> Path | None:
    """The command's --out folder if it does not exist yet (the command will make it)."""
    out = getattr(args, "out", None)
    return Path(out) if isinstance(out, str) and out and not os.path.lexists(out) else None


def _drop_if_empty(folder: Path | None) -> None:
    """After a failed command: remove the --out folder it made if it holds no file at all
    (bad input found before anything was written leaves nothing behind)."""
    if folder is None or not folder.is_dir() or folder.is_symlink():
        return
    inside = sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    if any(not p.is_dir() or p.is_symlink() for p in inside):
        return
    for p in inside:
        p.rmdir()
    folder.rmdir()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_backends()
    new = _new_folder(args)
    try:
        return args.func(args)
    except SkinedgeError as exc:  # file names in it may hold line breaks: one line, escaped
        from .card import printable

        _drop_if_empty(new)
        print(f"skinedge {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # permission denied, disk full, a folder where a file goes, ...
        from .card import printable

        _drop_if_empty(new)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"skinedge {args.command}: error: {printable(where + str(exc.strerror or exc))}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skinedge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
