"""``skinedge synth train | sample | report``: the synthetic-lesion stage."""
from __future__ import annotations

import json
from pathlib import Path


def add_synth(sub) -> None:
    p = sub.add_parser("synth", help="synthetic lesions: latent diffusion train/sample/report",
                       description="A class-conditioned latent diffusion model (diffusers "
                       "AutoencoderKL + UNet2DModel, classifier-free guidance) trained on the "
                       "train split of HAM10000, to generate extra images of the rare classes.")
    s = p.add_subparsers(dest="synth_command", required=True, metavar="STEP")
    _add_train(s)
    _add_sample(s)
    _add_report(s)


def _add_train(s) -> None:
    from .config import PRESETS

    p = s.add_parser("train", help="train the autoencoder, then the latent UNet",
                     description="Train the autoencoder, then the class-conditioned latent UNet "
                     "(EMA weights, per-class sample grids every --sample-every steps, loss "
                     "curves). Uses only the train split of the classifier's lesion-disjoint "
                     "split (same --seed). Rerun the same command to resume. Under torchrun it "
                     "trains with DDP. Presets: cpu (64 px, about an hour on 2 cores), gpu "
                     "(128 px, wider, 60k UNet steps), tiny (seconds; for tests).")
    p.add_argument("--data", default=None, help="HAM10000 folder (default: the shipped sample)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    p.add_argument("--img-size", type=int, default=None, help="image size (default: preset's)")
    p.add_argument("--ae-steps", type=int, default=None, help="autoencoder steps (preset's)")
    p.add_argument("--unet-steps", type=int, default=None, help="UNet steps (preset's)")
    p.add_argument("--ae-batch-size", type=int, default=None)
    p.add_argument("--unet-batch-size", type=int, default=None)
    p.add_argument("--cond-drop", type=float, default=None,
                   help="rate of training without the class, for guidance (default 0.1)")
    p.add_argument("--sample-every", type=int, default=None, help="steps between sample grids")
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    p.add_argument("--split-file", default=None, help="reuse a split.json (default: the split "
                   "`skinedge train` makes with the same seed)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _run_train(a) -> int:
    from ..api import SAMPLE_DATA
    from .config import preset_config
    from .train import train_synth

    cfg = preset_config(a.preset, str(a.data or SAMPLE_DATA), a.out, img_size=a.img_size,
                        ae_steps=a.ae_steps, unet_steps=a.unet_steps,
                        ae_batch_size=a.ae_batch_size, unet_batch_size=a.unet_batch_size,
                        cond_drop=a.cond_drop, sample_every=a.sample_every,
                        checkpoint_every=a.checkpoint_every, seed=a.seed,
                        split_file=a.split_file, progress=not a.no_progress)
    card = train_synth(cfg)
    if card:
        print(f"synth model {card['model_sha256'][:12]}: {card['autoencoder_steps']} autoencoder "
              f"steps (L1 {card['final_ae_l1']:.4f}), {card['unet_steps']} UNet steps (loss "
              f"{card['final_unet_loss']:.4f}) -> {Path(a.out) / 'model'}; grids in "
              f"{Path(a.out) / 'samples'}")
    return 0


def _add_sample(s) -> None:
    from .models import SAMPLERS

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
    p.add_argument("--classifier", default=None, help="checkpoint whose features and "
                   "predictions are used (default: the shipped model)")
    p.add_argument("--baseline-run", nargs="+", default=(), metavar="RUN",
                   help="`skinedge train` runs on real data only (one per seed)")
    p.add_argument("--synthetic-run", nargs="+", default=(), metavar="RUN",
                   help="the same trainings plus --synthetic (one per seed)")
    p.add_argument("--out", required=True, help="report folder (report.md, report.json, PNGs)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run_report)


def _run_report(a) -> int:
    from ..api import SAMPLE_DATA
    from .quality import quality_report

    if bool(a.baseline_run) != bool(a.synthetic_run):
        from ..errors import ConfigError
        raise ConfigError("give both --baseline-run and --synthetic-run, or neither")
    doc = quality_report(a.synthetic, a.data or SAMPLE_DATA, a.out, a.classifier,
                         a.baseline_run, a.synthetic_run)
    if a.json:
        print(json.dumps(doc, indent=2))
    else:
        print((Path(a.out) / "report.md").read_text())
    return 0
