"""Make the small attributed HAM10000 sample that ships with skinedge.

The sample is drawn, whole lesions at a time, from each split of the shipped model's
training run: test images for honest scoring (``skinedge eval --split test``), train images
for int8 calibration, val images for the export parity check. The shipped model's
split.json says which is which.

    python -m skinedge.data.sample --data ../shared/data/ham10000 \
        --split runs/default/split.json --out skinedge/assets/ham10000_sample
"""
from __future__ import annotations

import argparse
import csv
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..labels import CLASSES
from .ham10000 import METADATA_NAME, read_ham10000
from .splits import Split

ATTRIBUTION = """# HAM10000 sample (shipped with skinedge)

{n} dermoscopic images ({counts}) from {lesions} lesions, resized to 200x150 px.
They come from the lesion-disjoint splits of the shipped default model (split seed {seed}):
{per_split}. `skinedge eval --split test` scores only the test images; export calibrates
int8 on the train images and checks parity on the val images.

Source: Tschandl P., Rosendahl C., Kittler H., "The HAM10000 dataset, a large collection of
multi-source dermatoscopic images of common pigmented skin lesions", Scientific Data 5,
180161 (2018), doi:10.1038/sdata.2018.161; Harvard Dataverse doi:10.7910/DVN/DBW86T.

License: CC BY-NC 4.0 (https://creativecommons.org/licenses/by-nc/4.0/): non-commercial
use only, attribution required. This folder is a subset; the images are unchanged apart
from the downscaling done for the development copy.
"""


PER_CLASS = {"test": 40, "val": 12, "train": 20}


def _draw(ds, ids: set[str], per_class: int, rng) -> list:
    by_lesion: dict[str, list] = defaultdict(list)
    for r in ds.records:
        if r.image_id in ids:
            by_lesion[r.lesion_id].append(r)
    chosen = []
    for cls in CLASSES:
        lesions = sorted(l for l, rs in by_lesion.items() if rs[0].dx == cls)
        n = 0
        for k in rng.permutation(len(lesions)):
            if n >= per_class:
                break
            chosen.extend(by_lesion[lesions[k]])
            n += len(by_lesion[lesions[k]])
    return chosen


def make_sample(data: Path, split_file: Path, out: Path, per_class: dict[str, int] = PER_CLASS,
                seed: int = 0) -> None:
    ds = read_ham10000(data)
    split = Split.load(split_file)
    rng = np.random.default_rng(seed)
    parts = {s: _draw(ds, split.ids(s), n, rng) for s, n in per_class.items()}
    chosen = [r for part in parts.values() for r in part]
    ids = {r.image_id for r in chosen}
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    with open(ds.metadata, newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if row["image_id"] in ids]
        fields = reader.fieldnames
    with open(out / METADATA_NAME, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    for r in chosen:
        shutil.copy2(r.path, out / "images" / r.path.name)
    counts = defaultdict(int)
    for r in chosen:
        counts[r.dx] += 1
    (out / "README.md").write_text(ATTRIBUTION.format(
        n=len(chosen), counts=", ".join(f"{c} {counts[c]}" for c in CLASSES),
        lesions=len({r.lesion_id for r in chosen}), seed=split.seed,
        per_split=", ".join(f"{len(p)} {s}" for s, p in parts.items())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", type=Path, required=True, help="split.json of the model's run")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    make_sample(a.data, a.split, a.out)


if __name__ == "__main__":
    main()
