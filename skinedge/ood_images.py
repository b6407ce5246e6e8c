"""Images that are not usable dermoscopy, to measure the input gate against (never to train).

Three groups: photographs that ship inside installed packages (scikit-learn's and
matplotlib's sample images; whichever are installed), images generated here (noise, flat
colour, text, stripes, checkerboard, gradient), and corrupted lesion images (greyscale,
inverted, channels swapped, blurred, darkened, overexposed, noise). Every image is returned as
``(name, PIL RGB image)``; corruptions take model images uint8 [S, S, 3].
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# (package, path inside it) of photographs that ship with common packages
BUNDLED = (("sklearn", "datasets/images/china.jpg"), ("sklearn", "datasets/images/flower.jpg"),
           ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
           ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),
           ("matplotlib", "mpl-data/sample_data/logo2.png"))


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locates the package without importing it
    return Path(spec.origin).parent if spec and spec.origin else None


def bundled_photos(crops: int = 4, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """The installed sample photographs, whole and as ``crops`` random square crops each."""
    rng = np.random.default_rng(seed)
    out = []
    for pkg, rel in BUNDLED:
        root = _package_dir(pkg)
        if root is None or not (root / rel).is_file():
            continue
        with Image.open(root / rel) as im:
            img = im.convert("RGB")
        out.append((f"{pkg}:{Path(rel).name}", img))
        w, h = img.size
        for i in range(crops):
            side = int(min(w, h) * rng.uniform(0.3, 0.7))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            out.append((f"{pkg}:{Path(rel).name}#crop{i}", img.crop((x, y, x + side, y + side))))
    return out


def _text(rng, size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(200, 256, 3)))
    d = ImageDraw.Draw(img)
    for row in range(0, size, 12):
        d.text((4, row), "".join(chr(int(c)) for c in rng.integers(65, 91, 40)), fill=(0, 0, 0))
    return img


def generated(size: int = 224, per_kind: int = 4, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """Noise, flat colour, text, stripes, checkerboard and gradient images, ``per_kind`` each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for i in range(per_kind):
        c = rng.integers(0, 256, (2, 3))
        period = int(rng.integers(4, 32))
        kinds = {
            "noise": rng.integers(0, 256, (size, size, 3)),
            "flat": np.broadcast_to(c[0], (size, size, 3)),
            "stripes": np.where(((xx // period) % 2)[..., None] == 0, c[0], c[1]),
            "checker": np.where((((xx // period) + (yy // period)) % 2)[..., None] == 0, c[0], c[1]),
            "gradient": (xx[..., None] / size * c[0] + (1 - xx[..., None] / size) * c[1]),
        }
        for kind, arr in kinds.items():
            out.append((f"{kind}{i}", Image.fromarray(np.asarray(arr, dtype=np.uint8))))
        out.append((f"text{i}", _text(rng, size)))
    return out


def corrupted(images: np.ndarray, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """Corrupted copies of lesion model images uint8 [N, S, S, 3], one corruption each in turn."""
    rng = np.random.default_rng(seed)

    def noisy(a):
        return np.clip(a + rng.normal(0, 80, a.shape), 0, 255)

    kinds = {
        "grey": lambda a: np.repeat(a.astype(np.float64) @ [[0.299], [0.587], [0.114]], 3, -1),
        "inverted": lambda a: 255 - a,
        "bgr": lambda a: a[..., ::-1],
        "blurred": lambda a: np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(4))),
        "dark": lambda a: a * 0.15,
        "overexposed": lambda a: np.clip(a.astype(np.float64) * 2.5 + 60, 0, 255),
        "noise": noisy,
    }
    out = []
    for i, img in enumerate(np.asarray(images)):
        kind = list(kinds)[i % len(kinds)]
        arr = np.asarray(kinds[kind](img), dtype=np.float64)
        out.append((f"{kind}{i}", Image.fromarray(np.round(arr).astype(np.uint8))))
    return out


def gate_report(lesions: np.ndarray, sizes, gate, seed: int = 0) -> dict:
    """The card's ``gate`` on lesion model images uint8 [N, S, S, 3] (originals ``sizes``,
    (w, h) each) and on the three groups above: each group's OOD-score AUROC against the
    lesions and the share the gate rejects (on lesions: its false rejections)."""
    from .clinical import auroc
    from .gate import assess, rejection_rates
    from .preprocess import resize_center_crop

    size = lesions.shape[1]
    ins = [assess(im, s, gate) for im, s in zip(lesions, sizes)]
    base = np.array([v.scores["ood"] for v in ins])
    out = {"lesions": {"n": len(ins), **rejection_rates(ins)}}
    groups = {"bundled_photos": bundled_photos(seed=seed),
              "generated": generated(seed=seed),
              "corrupted_lesions": corrupted(lesions[:: max(1, len(lesions) // 140)], seed)}
    every = []
    for name, items in groups.items():
        vs = [assess(resize_center_crop(im, size), im.size, gate) for _, im in items]
        s = np.array([v.scores["ood"] for v in vs])
        every.append(s)
        y = np.r_[np.zeros(len(base)), np.ones(len(s))]
        out[name] = {"n": len(vs), "ood_auroc": auroc(y, np.r_[base, s]), **rejection_rates(vs)}
    s = np.concatenate(every)
    out["ood_auroc_all"] = auroc(np.r_[np.zeros(len(base)), np.ones(len(s))], np.r_[base, s])
    return out
