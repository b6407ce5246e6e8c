"""Run set-up shared by every stage that trains or scores on a split (train, synth train,
pretrain, distill, eval): threads and the DDP environment, the split (loaded or made, and
checked against the data), the decoded-image cache filled by rank 0 first, the run folder."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data import HAM10000, Split, make_split
from .atomic import output_folder
from .data.cache import cached_images
from .distributed import DistEnv
from .errors import ConfigError, DataError
from .layout import RunFolder


def start_process_group() -> DistEnv:
    """Join torchrun's process group (if any) and share the cores between local processes,
    unless the user pinned OMP_NUM_THREADS."""
    import torch

    env = DistEnv.from_env()
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", env.world)))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or
                          max(1, (os.cpu_count() or 1) // local))
    return env


def open_run(out: str | Path, env: DistEnv) -> RunFolder:
    """The run folder, created by rank 0 before any rank writes into it."""
    run = RunFolder(Path(out))
    if run.root.exists() and not run.root.is_dir():
        raise ConfigError(f"--out {run.root}: exists and is not a folder; choose another --out")
    if env.is_main:
        output_folder(run.root)
    env.barrier()
    return run


def check_covers(split: Split, ds: HAM10000, source: Path) -> None:
    """Every image of ``ds`` must have a side in ``split`` (else it is another data set's)."""
    absent = [r.image_id for r in ds.records if r.image_id not in split.assignment]
    if absent:
        raise DataError(f"{source}: split does not cover {len(absent)} image(s) of "
                        f"{ds.metadata} (e.g. {absent[0]}); use a split made for this data")


def load_or_make_split(ds: HAM10000, run: RunFolder, env: DistEnv, seed: int,
                       fractions: tuple[float, float, float],
                       split_file: str | None = None) -> Split:
    """The run's split: ``--split-file`` if given (it must exist), else ``run/split.json``
    from an earlier attempt, else a new lesion-disjoint split saved there by rank 0."""
    if split_file:
        path = Path(split_file)
        if not path.is_file():
            raise ConfigError(f"--split-file {path}: no such file; give the split.json of an "
                              "earlier run, or leave the option out to make a new split")
        split = Split.load(path)
    elif run.split.is_file():
        path, split = run.split, Split.load(run.split)
    else:
        path, split = run.split, make_split(ds, seed, fractions)
    check_covers(split, ds, path)
    if env.is_main and not run.split.is_file():
        split.save(run.split)
    return split


def side_of_each(ds: HAM10000, split: Split) -> np.ndarray:
    """"train" | "val" | "test" for every record of ``ds``, in order."""
    return np.array([split.assignment[r.image_id] for r in ds.records])


def cache_rank0_first(records, img_size: int, env: DistEnv, progress: bool) -> np.ndarray:
    """Decoded images [N, S, S, 3] uint8; rank 0 fills the cache while the others wait."""
    images = None
    if env.is_main:
        images = cached_images(records, img_size, progress=progress)
    env.barrier()
    if images is None:
        images = cached_images(records, img_size, progress=False)
    return images
