"""Sample a synthetic dataset in the HAM10000 layout from a finished synth run.

Output folder::

    HAM10000_metadata.csv     lesion_id,image_id,dx,dx_type,...,synthetic,seed,guidance,...
    images/SYN_<dx>_<i>.png
    synth_manifest.json       the request (model hash, counts, guidance, seed, sampler) and
                              the split the model was trained on

Image i of class c starts from noise seeded by (seed, c, i) and the samplers are
deterministic, so an interrupted run resumes by skipping the PNGs already written (each is
written to a temporary name and renamed) and never duplicates or changes an image. The CSV is
written last, so a folder without it is an unfinished run.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm import tqdm

from ..card import sha256_file
from ..data.ham10000 import METADATA_NAME
from ..errors import CheckpointError, ConfigError
from ..labels import CLASS_INDEX, CLASSES
from .config import SynthConfig
from .images import to_uint8
from .models import SAMPLERS, build_autoencoder, build_unet, generate, sample_scheduler
from .train import MODEL_CARD, MODEL_DIR, SCHEMA, STATE

MANIFEST = "synth_manifest.json"
MANIFEST_SCHEMA = "skinedge.synth_dataset/1"
COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "synthetic",
           "seed", "guidance", "sampler", "steps", "model_sha256")
MAX_GUIDANCE = 20.0
MAX_COUNT = 100_000


@dataclass
class SynthModel:
    unet: torch.nn.Module
    vae: torch.nn.Module
    cfg: SynthConfig
    card: dict = field(repr=False)

    @property
    def scaling(self) -> float:
        return float(self.card["latent_scaling"])


def load_synth_model(run: str | Path) -> SynthModel:
    """The finished model of a synth run; a missing or unfinished run is a clear error."""
    run = Path(run)
    if not run.is_dir():
        raise CheckpointError(f"{run}: synth run folder not found")
    if not (run / "config.json").is_file():
        raise CheckpointError(f"{run}: not a skinedge synth run (no config.json)")
    folder = run / MODEL_DIR
    card_path = folder / MODEL_CARD
    if not card_path.is_file():
        progress = []
        for stage in ("autoencoder", "unet"):
            st = run / stage / STATE
            if st.is_file():
                progress.append(f"{stage} at step {json.loads(st.read_text())['step']}")
        detail = f" ({', '.join(progress)})" if progress else ""
        raise CheckpointError(f"{run}: training has not finished{detail}: no {MODEL_DIR}/"
                              f"{MODEL_CARD}; rerun `skinedge synth train` with the same --out "
                              "to resume it")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{card_path}: not valid JSON ({exc})") from None
    if card.get("schema") != SCHEMA:
        raise CheckpointError(f"{card_path}: schema {card.get('schema')!r}, expected {SCHEMA!r}")
    for name, digest in card["files"].items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path}: weights file not found")
        if sha256_file(path) != digest:
            raise CheckpointError(f"{path}: sha256 does not match {card_path}; the weights were "
                                  "changed or half-written")
    cfg = SynthConfig.from_dict(card["config"])
    vae, unet = build_autoencoder(cfg), build_unet(cfg)
    try:
        vae.load_state_dict(load_file(str(folder / "autoencoder.safetensors")))
        unet.load_state_dict(load_file(str(folder / "unet_ema.safetensors")))
    except (SafetensorError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: weights do not match the run's configuration ({exc})") from None
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return SynthModel(unet.eval().requires_grad_(False).to(dev),
                      vae.eval().requires_grad_(False).to(dev), cfg, card)


@dataclass(frozen=True)
class SampleRequest:
    run: str
    out: str
    per_class: int | None = None
    balance_to: int | None = None
    classes: tuple[str, ...] | None = None
    guidance: float = 2.0
    seed: int = 0
    steps: int = 25
    sampler: str = "dpm"
    batch_size: int = 32
    progress: bool = True

    def validate(self) -> None:
        if (self.per_class is None) == (self.balance_to is None):
            raise ConfigError("give exactly one of --per-class N or --balance-to N")
        n = self.per_class if self.per_class is not None else self.balance_to
        if not 1 <= n <= MAX_COUNT:
            raise ConfigError(f"count {n} out of range: must be 1..{MAX_COUNT}")
        if not 0.0 <= self.guidance <= MAX_GUIDANCE:
            raise ConfigError(f"--guidance {self.guidance} out of range: must be 0..{MAX_GUIDANCE} "
                              "(1 = no guidance; 1.5-4 is usual)")
        if not 1 <= self.steps <= 1000:
            raise ConfigError(f"--steps {self.steps} out of range: must be 1..1000")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler {self.sampler!r}: choose one of {', '.join(SAMPLERS)}")
        if self.batch_size < 1:
            raise ConfigError("--batch-size must be positive")
        for c in self.classes or ():
            if c not in CLASS_INDEX:
                raise ConfigError(f"unknown class {c!r}; choose from {', '.join(CLASSES)}")


def plan_counts(req: SampleRequest, train_counts: dict[str, int]) -> dict[str, int]:
    """Images to generate per class: N each, or enough to lift real-train counts to N."""
    classes = req.classes or CLASSES
    if req.per_class is not None:
        return {c: req.per_class for c in classes}
    return {c: max(0, req.balance_to - train_counts.get(c, 0)) for c in classes}


def _manifest(req: SampleRequest, model: SynthModel, counts: dict[str, int]) -> dict:
    return {"schema": MANIFEST_SCHEMA, "model_sha256": model.card["model_sha256"],
            "run": str(Path(req.run).resolve()), "counts": counts, "guidance": req.guidance,
            "seed": req.seed, "steps": req.steps, "sampler": req.sampler,
            "img_size": model.cfg.img_size, "split_fingerprint": model.card["split_fingerprint"],
            "split_seed": model.card["split_seed"],
            "split_fractions": list(model.cfg.split_fractions),
            "dataset_fingerprint": model.card["dataset_fingerprint"],
            "train_class_counts": model.card["train_class_counts"]}


def _claim_folder(out: Path, manifest: dict) -> None:
    """Start or resume a dataset in ``out``; refuse a folder that holds anything else."""
    path = out / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text())
        keys = [k for k in manifest if k != "run" and old.get(k) != manifest[k]]
        if keys:
            raise ConfigError(f"{out}: already holds a different synthetic dataset (differs in "
                              f"{', '.join(keys)}); choose another --out or repeat its request")
        return
    if out.exists() and any(out.iterdir()):
        what = "a HAM10000 dataset" if (out / METADATA_NAME).is_file() else "other files"
        raise ConfigError(f"{out}: holds {what} and no {MANIFEST}; refusing to write into it")
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def image_noise(seed: int, cls: int, index: int, shape: tuple[int, ...]) -> torch.Tensor:
    g = torch.Generator().manual_seed((seed * 1_000_003 + cls) * 10_000_019 + index)
    return torch.randn(shape, generator=g)


def image_id(dx: str, index: int) -> str:
    return f"SYN_{dx}_{index:06d}"


def sample_dataset(req: SampleRequest) -> dict:
    req.validate()
    model = load_synth_model(req.run)
    counts = plan_counts(req, model.card["train_class_counts"])
    out = Path(req.out)
    manifest = _manifest(req, model, counts)
    _claim_folder(out, manifest)
    cfg = model.cfg
    shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    todo = [(c, i) for c, n in counts.items() for i in range(n)
            if not (out / "images" / f"{image_id(c, i)}.png").is_file()]
    total = sum(counts.values())
    bar = tqdm(total=total, initial=total - len(todo), desc="sampling", unit="img",
               disable=not req.progress)
    for start in range(0, len(todo), req.batch_size):
        chunk = todo[start:start + req.batch_size]
        labels = torch.tensor([CLASS_INDEX[c] for c, _ in chunk])
        noise = torch.stack([image_noise(req.seed, CLASS_INDEX[c], i, shape) for c, i in chunk])
        imgs = to_uint8(generate(model.unet, model.vae, sample_scheduler(cfg, req.sampler), labels,
                                 req.guidance, req.steps, model.scaling, noise=noise))
        for (c, i), arr in zip(chunk, imgs):
            dest = out / "images" / f"{image_id(c, i)}.png"
            tmp = dest.with_name(f".{dest.stem}.tmp.png")
            Image.fromarray(arr).save(tmp)
            os.replace(tmp, dest)
        bar.update(len(chunk))
    bar.close()
    _write_metadata(out, counts, manifest)
    return {"out": str(out), "counts": counts, "total": total, "generated_now": len(todo),
            "model_sha256": manifest["model_sha256"]}


def _write_metadata(out: Path, counts: dict[str, int], m: dict) -> None:
    path = out / METADATA_NAME
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for c, n in counts.items():
            for i in range(n):
                iid = image_id(c, i)
                w.writerow([iid, iid, c, "synthetic", "", "", "", 1, m["seed"], m["guidance"],
                            m["sampler"], m["steps"], m["model_sha256"]])
    os.replace(tmp, path)

