"""The ``skinedge`` command. Each subcommand parses its flags into a config once and calls
one library function; errors a user can fix print one line and exit 2."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import SkinedgeError


def _add_train(sub) -> None:
    from .models import MODELS
    from .train.config import BALANCE_MODES, TrainConfig

    d = TrainConfig(data="", out="")
    p = sub.add_parser("train", help="train a student on HAM10000",
                       description="Train a classifier from scratch on a HAM10000-layout folder: "
                       "lesion-disjoint split, validation every epoch, best checkpoint by balanced "
                       "accuracy, resumable (rerun the same command after an interruption). Under "
                       "torchrun it trains with DDP.")
    p.add_argument("--data", default=None, help="HAM10000 folder (HAM10000_metadata.csv beside "
                   "the image folders); default: the sample shipped with skinedge")
    p.add_argument("--out", required=True, help="run folder (config, split, checkpoints, plots)")
    p.add_argument("--model", default=d.model, choices=sorted(MODELS), metavar="NAME",
                   help=f"architecture (default {d.model}); one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--img-size", type=int, default=d.img_size, help="input resolution (px)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch size")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--balance", default=d.balance, choices=BALANCE_MODES,
                   help="imbalance handling: class-weighted loss, class-balanced sampler, both, none")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--drop-rate", type=float, default=d.drop_rate, help="dropout before the classifier")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the split and the training")
    p.add_argument("--split-file", default=None, help="reuse a split.json from another run")
    p.add_argument("--workers", type=int, default=d.workers, help="data-loader worker processes")
    p.add_argument("--synthetic", default=None, metavar="DIR", help="add a `skinedge synth "
                   "sample` dataset to the train split (val/test stay real)")
    p.add_argument("--synthetic-ratio", type=float, default=None, metavar="R",
                   help="synthetic share of the training set, in [0, 1) (default: every image "
                   "in --synthetic)")
    p.add_argument("--max-batches", type=int, default=None, help="cap batches per epoch (smoke tests)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _run_train(a) -> int:
    from .api import SAMPLE_DATA
    from .train import TrainConfig, train

    cfg = TrainConfig(data=str(a.data or SAMPLE_DATA), out=a.out, model=a.model,
                      img_size=a.img_size, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                      weight_decay=a.weight_decay, balance=a.balance,
                      label_smoothing=a.label_smoothing, drop_rate=a.drop_rate, seed=a.seed, split_file=a.split_file,
                      workers=a.workers, max_batches_per_epoch=a.max_batches,
                      synthetic=a.synthetic, synthetic_ratio=a.synthetic_ratio,
                      progress=not a.no_progress)
    result = train(cfg)
    if result:
        t = result["test"]
        print(f"best epoch {result['best_epoch'] + 1}: test balanced accuracy "
              f"{t['balanced_accuracy']:.4f}, macro-F1 {t['macro_f1']:.4f}, n={t['n']} "
              f"-> {Path(a.out) / 'best'}")
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score a model on labelled images",
                       description="Balanced accuracy, macro-F1, one-vs-rest AUC, per-class "
                       "recall/precision/F1 and a confusion-matrix plot for a checkpoint folder or "
                       "an exported artifact.")
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder or artifact (default: the shipped model)")
    p.add_argument("--data", default=None, help="HAM10000-layout folder (default: shipped sample)")
    p.add_argument("--split", default="test", choices=("test", "val", "all"),
                   help="the model's test/val split of DATA, or every labelled image (all)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--plot", default=None, help="confusion-matrix PNG (default confusion_SPLIT.png)")
    p.set_defaults(func=_run_eval)


def _run_eval(a) -> int:
    from .api import SAMPLE_DATA
    from .evaluate import evaluate

    plot = Path(a.plot or f"confusion_{a.split}.png")
    m = evaluate(a.model, a.data or SAMPLE_DATA, a.split, plot, progress=not a.json)
    if a.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"{m['model']} [{m['target']}] on {m['split']} of {m['data']}: n={m['n']}")
    print(f"  balanced accuracy {m['balanced_accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
          f"accuracy {m['accuracy']:.4f}  AUC(ovr) {m['auc_ovr']:.4f}")
    print(f"  {'class':6} {'recall':>7} {'prec':>7} {'f1':>7} {'n':>5}")
    for c, v in m["per_class"].items():
        print(f"  {c:6} {v['recall']:7.3f} {v['precision']:7.3f} {v['f1']:7.3f} {v['support']:5d}")
    print(f"  confusion matrix: {plot}")
    return 0


def _add_export(sub) -> None:
    from .targets import EXPORT_TARGETS

    p = sub.add_parser("export", help="quantize and export to ExecuTorch, CoreML, ONNX",
                       description="Export a checkpoint to phone-ready artifacts. Each artifact "
                       "embeds the model card, is compared with the eager model on real "
                       "validation images, and is kept only if it meets its recipe's tolerances "
                       "(recipes: export/*.toml). CoreML numeric parity needs macOS; on Linux the "
                       "package's structure is verified instead.")
    p.add_argument("model", nargs="?", default=None,
                   help="checkpoint folder (default: the shipped model)")
    p.add_argument("--target", default="all", choices=(*EXPORT_TARGETS, "all"),
                   help="backend (default all: every preset of every backend)")
    p.add_argument("--quant", default=None, choices=("fp32", "fp16", "int8", "all"),
                   help="quantization (default: the target's default preset)")
    p.add_argument("--recipe", default=None, help="a recipe TOML file (overrides --target/--quant)")
    p.add_argument("--out", default="artifacts", help="output folder (default ./artifacts)")
    p.add_argument("--data", default=None, help="HAM10000-layout folder for calibration and "
                   "parity images (the model's train/val split of it; default: shipped sample)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_run_export)


def _run_export(a) -> int:
    from dataclasses import asdict

    from .exporting import ExportConfig, format_table, run_export

    results = run_export(ExportConfig(model=a.model, target=a.target, quant=a.quant,
                                      recipe=a.recipe, out=a.out, data=a.data,
                                      progress=not a.json))
    print(json.dumps([asdict(r) for r in results], indent=2) if a.json else format_table(results))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"skinedge export: {len(failed)} artifact(s) failed their parity check and were "
              "not written: " + ", ".join(r.recipe for r in failed), file=sys.stderr)
    return 1 if failed else 0


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="classify images with any model or artifact",
                       description="Classify dermoscopic images (JPEG/PNG/...) with a checkpoint "
                       "or any exported artifact. A bad image is reported; the others still run.")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", default=None, help="checkpoint folder, .pte, .onnx or .mlpackage "
                   "(default: the shipped model)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run_predict)


def _run_predict(a) -> int:
    from .api import load
    from .labels import CLASS_NAMES

    clf = load(a.model)
    results = clf.predict(a.images, top_k=a.top_k)
    if a.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            if r.error:
                print(f"{r.source}: ERROR {r.error}")
                continue
            top = ", ".join(f"{l} {p:.3f}" for l, p in r.top_k)
            print(f"{r.source}: {r.label} ({CLASS_NAMES.get(r.label, r.label)})  [{top}]")
    bad = sum(1 for r in results if r.error)
    if bad:
        print(f"skinedge predict: {bad} of {len(results)} image(s) could not be read",
              file=sys.stderr)
    return 1 if bad else 0


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="print an artifact's model card",
                       description="Print the model card embedded in a checkpoint or artifact "
                       "(after checking its sha256); for CoreML also the package's structure.")
    p.add_argument("artifact")
    p.set_defaults(func=_run_inspect)


def _run_inspect(a) -> int:
    from .targets import target_for_path

    t = target_for_path(a.artifact)
    module = t.load_module()
    card = module.read_card(Path(a.artifact))
    doc = card.to_dict()
    if t.name == "coreml":
        doc["coreml_structure"] = module.structure(Path(a.artifact))
    print(json.dumps(doc, indent=2))
    return 0


def _add_bench(sub) -> None:
    from .targets import TARGETS

    p = sub.add_parser("bench", help="latency, memory, size, FLOPs, accuracy of every artifact",
                       description="Benchmark checkpoints and artifacts, each runtime in its own "
                       "process, interleaved over rounds, with eager PyTorch fp32, torch.compile "
                       "and plain onnxruntime fp32 as baselines. A checkpoint is first exported to "
                       "every preset. Results: JSON, Markdown and plots under --out.")
    p.add_argument("models", nargs="*", help="checkpoint folders or artifacts (default: the "
                   "shipped model, exported to every target and quantization)")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated subset of {','.join(TARGETS)}")
    p.add_argument("--threads", type=int, default=0, help="threads per runtime (default: all cores)")
    p.add_argument("--batch", default="1,8", help="batch sizes, comma-separated (default 1,8)")
    p.add_argument("--data", default=None, help="labelled HAM10000 folder: adds balanced accuracy")
    p.add_argument("--split", default="test", choices=("test", "val", "all"))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per round (default 20)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--json", action="store_true", help="print the results JSON")
    p.set_defaults(func=_run_bench)


def _run_bench(a) -> int:
    from .bench.report import markdown
    from .bench.runner import BenchConfig, run_bench
    from .errors import ConfigError

    try:
        batches = tuple(int(b) for b in a.batch.split(","))
    except ValueError:
        raise ConfigError(f"--batch {a.batch!r}: expected comma-separated integers like 1,8") from None
    cfg = BenchConfig(models=tuple(a.models), targets=tuple(t for t in a.targets.split(",") if t),
                      threads=a.threads, batches=batches, data=a.data, split=a.split,
                      out=a.out, rounds=a.rounds, warmup=a.warmup, runs=a.runs,
                      timeout_s=a.timeout, compile_baseline=not a.no_compile,
                      progress=not a.json)
    doc = run_bench(cfg)
    print(json.dumps(doc, indent=2) if a.json else markdown(doc))
    failed = [r["name"] for r in doc["rows"] if r["status"] == "failed"]
    if failed:
        print(f"skinedge bench: {len(failed)} row(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="skinedge", description="Train, export, run and benchmark "
                                "an on-device skin-lesion classifier (HAM10000, 7 classes).")
    p.add_argument("--version", action="version", version=f"skinedge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .synth.cli import add_synth

    for add in (_add_train, _add_eval, _add_export, _add_predict, _add_inspect, _add_bench,
                add_synth):
        add(sub)
    return p


def _quiet_backends() -> None:
    """Silence version-check chatter that backends log on import (coremltools warns about
    scikit-learn/torch versions and missing macOS libraries; torch about pytree enums)."""
    import logging

    for name in ("coremltools", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_backends()
    try:
        return args.func(args)
    except SkinedgeError as exc:
        print(f"skinedge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skinedge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
