"""Make the small attributed HAM10000 sample that ships with skinedge.

The sample is drawn, whole lesions at a time, from the *test* split of the shipped model's
training run, so scoring the shipped model on it never scores an image it trained on.

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

{n} dermoscopic images ({counts}) from {lesions} lesions, all from the lesion-disjoint
*test* split of the shipped default model (split seed {seed}), resized to 200x150 px.

Source: Tschandl P., Rosendahl C., Kittler H., "The HAM10000 dataset, a large collection of
multi-source dermatoscopic images of common pigmented skin lesions", Scientific Data 5,
180161 (2018), doi:10.1038/sdata.2018.161; Harvard Dataverse doi:10.7910/DVN/DBW86T.

License: CC BY-NC 4.0 (https://creativecommons.org/licenses/by-nc/4.0/): non-commercial
use only, attribution required. This folder is a subset; the images are unchanged apart
from the downscaling done for the development copy.
"""


def make_sample(data: Path, split_file: Path, out: Path, per_class: int = 40,
                seed: int = 0) -> None:
    ds = read_ham10000(data)
    split = Split.load(split_file)
    test = split.ids("test")
    by_lesion: dict[str, list] = defaultdict(list)
    for r in ds.records:
        if r.image_id in test:
            by_lesion[r.lesion_id].append(r)
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in CLASSES:
        lesions = sorted(l for l, rs in by_lesion.items() if rs[0].dx == cls)
        n = 0
        for k in rng.permutation(len(lesions)):
            if n >= per_class:
                break
            chosen.extend(by_lesion[lesions[k]])
            n += len(by_lesion[lesions[k]])
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
        lesions=len({r.lesion_id for r in chosen}), seed=split.seed))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", type=Path, required=True, help="split.json of the model's run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-class", type=int, default=40)
    a = p.parse_args()
    make_sample(a.data, a.split, a.out, a.per_class)


if __name__ == "__main__":
    main()
