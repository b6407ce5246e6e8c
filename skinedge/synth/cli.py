"""``skinedge synth train | sample | report``: the synthetic-lesion stage."""
from __future__ import annotations

import json
from pathlib import Path

from .config import SynthConfig, preset_config


def add_synth(sub) -> None:
    p = sub.add_parser("synth", help="synthetic lesions: latent diffusion train/sample/report",
                       description="A class-conditioned latent diffusion model (diffusers "
                       "AutoencoderKL + UNet2DModel, classifier-free guidance) trained on the "
                       "train split of HAM10000, to generate extra images of the rare classes.")
    s = p.add_subparsers(dest="synth_command", required=True, metavar="STEP")
    _add_train(s)
    _add_sample(s)
    _add_report(s)


# Flags whose default comes from the chosen --preset.
PRESET_FLAGS = ("img_size", "ae_steps", "unet_steps", "ae_batch_size", "unet_batch_size",
                "cond_drop", "sample_every", "checkpoint_every")


def _add_train(s) -> None:
    p = s.add_parser("train", help="train the autoencoder, then the latent UNet",
                     description="Train the autoencoder, then the class-conditioned latent UNet "
                     "(EMA weights, per-class sample grids every --sample-every steps, loss "
                     "curves). Uses only the train split of the classifier's lesion-disjoint "
                     "split (same --seed). Rerun the same command to resume. Under torchrun it "
                     "trains with DDP. Presets: cpu (64 px, about an hour on 2 cores), gpu "
                     "(128 px, wider, 60k UNet steps), tiny (seconds; for tests).")
    SynthConfig.add_arguments(p, defaults={k: None for k in PRESET_FLAGS},
                              defaults_from="the preset")
    p.set_defaults(func=_run_train)


def _run_train(a) -> int:
    from .train import train_synth

    flags = SynthConfig.flag_values(a)
    card = train_synth(preset_config(flags.pop("preset"), flags.pop("data"), flags.pop("out"),
                                     **flags))
    if card:
        print(f"synth model {card['model_sha256'][:12]}: {card['autoencoder_steps']} autoencoder "
              f"steps (L1 {card['final_ae_l1']:.4f}), {card['unet_steps']} UNet steps (loss "
              f"{card['final_unet_loss']:.4f}) -> {Path(a.out) / 'model'}; grids in "
              f"{Path(a.out) / 'samples'}")
    return 0


def _add_sample(s) -> None:
    from .layout import SAMPLERS

    p = s.add_parser("sample", help="write a synthetic dataset in the HAM10000 layout",
                     description="Generate images with classifier-free guidance into a "
                     "HAM10000-layout folder (metadata CSV with dx plus synthetic, seed, "
                     "guidance, sampler and model-hash columns) that `skinedge train "
                     "--synthetic` reads. Rerun the same command to resume an interrupted run.")
    p.add_argument("run", help="a finished `skinedge synth train` run folder")
    p.add_argument("--out", required=True, help="dataset folder (new, or one this request started)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--per-class", type=int, help="N images of each class")
    g.add_argument("--balance-to", type=int, help="top every class of the real train split up "
                   "to N images (classes already at N get none)")
    p.add_argument("--classes", default=None, help="comma-separated subset, e.g. df,vasc")
    p.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale "
                   "(1 = none; default 2)")
    p.add_argument("--steps", type=int, default=25, help="sampler steps (default 25)")
    p.add_argument("--sampler", default="dpm", choices=SAMPLERS,
                   help="DPM-Solver++ (default) or DDIM")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_sample)


def _run_sample(a) -> int:
    from .sample import SampleRequest, sample_dataset

    classes = tuple(c.strip() for c in a.classes.split(",") if c.strip()) if a.classes else None
    r = sample_dataset(SampleRequest(run=a.run, out=a.out, per_class=a.per_class,
                                     balance_to=a.balance_to, classes=classes,
                                     guidance=a.guidance, seed=a.seed, steps=a.steps,
                                     sampler=a.sampler, batch_size=a.batch_size,
                                     progress=not a.no_progress))
    counts = ", ".join(f"{c} {n}" for c, n in r["counts"].items())
    print(f"{r['total']} synthetic images ({r['generated_now']} generated now) in {r['out']}: "
          f"{counts}")
    return 0


def _add_report(s) -> None:
    p = s.add_parser("report", help="measured quality of a synthetic dataset (Markdown)",
                     description="Per-class Frechet distance on the features of a trained "
                     "classifier (with the real train-vs-val distance for scale), class "
                     "fidelity, nearest-neighbour distances to the training set, sample grids, "
                     "and optionally the downstream comparison of two `skinedge train` runs.")
    p.add_argument("synthetic", help="a `skinedge synth sample` folder")
    p.add_argument("--data", default=None, help="the real HAM10000 folder the model was "
                   "trained on (default: the shipped sample)")
    p.add_argument("--model", default=None, help="checkpoint whose features and "
                   "predictions are used (default: the shipped model)")
    p.add_argument("--baseline-run", nargs="+", default=(), metavar="RUN",
                   help="`skinedge train` runs on real data only (one per seed)")
    p.add_argument("--synthetic-run", nargs="+", default=(), metavar="RUN",
                   help="the same trainings plus --synthetic (one per seed)")
    p.add_argument("--out", required=True, help="report folder (report.md, report.json, PNGs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run_report)


def _run_report(a) -> int:
    from ..layout import SAMPLE_DATA
    from .quality import quality_report

    if bool(a.baseline_run) != bool(a.synthetic_run):
        from ..errors import ConfigError
        raise ConfigError("give both --baseline-run and --synthetic-run, or neither")
    doc = quality_report(a.synthetic, a.data or SAMPLE_DATA, a.out, a.model,
                         a.baseline_run, a.synthetic_run)
    if a.json:
        print(json.dumps(doc, indent=2))
    else:
        print((Path(a.out) / "report.md").read_text())
    return 0
