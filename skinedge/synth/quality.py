"""Measured quality of a synthetic dataset, without Inception weights (none exist offline).

* Frechet distance per class on the penultimate features of the project's own classifier,
  projected on the top principal components of the real training features. Beside each
  synthetic-vs-train distance stands the real val-vs-train distance (the floor a perfect
  generator would reach), and the synthetic distance again at the val set's sample size,
  because the estimate is biased upward at small n.
* Class fidelity: how often the classifier calls a synthetic image of class c "c", beside its
  recall on real validation images of c.
* Memorization: each synthetic image's nearest training image, in feature space (cosine) and
  in pixel space (RMS over the 8 rotations/flips), beside the same distances for real
  validation images, which are other lesions and so show what "not a copy" looks like.
* Grids of real and synthetic images per class, and the closest synthetic/training pairs.
* Optionally, the downstream test: two `skinedge train` runs, real only and real + synthetic.

Real images pass through the synthetic resolution first (resize to S, then up to the
classifier's input), so both sides lose the same detail.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_json, write_text
from ..checkpoint import load_checkpoint
from ..data import make_split, read_ham10000
from ..data.cache import cached_images
from ..errors import DataError
from ..labels import CLASSES
from ..plots import pyplot, save_figure
from .images import save_grid
from .mix import read_synthetic

PCA_DIMS = 32


@torch.no_grad()
def features(model, images: np.ndarray, size: int, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(pre-logit features [N, D], class probabilities [N, 7]) for uint8 [N, S, S, 3],
    resized to the classifier's input ``size``."""
    feats, probs = [], []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(np.array(images[start:start + batch])).permute(0, 3, 1, 2).float() / 255
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
        h = model.backbone.forward_features((x - model.mean) / model.std)
        f = model.backbone.forward_head(h, pre_logits=True)
        feats.append(f.numpy())
        probs.append(torch.softmax(model.backbone.get_classifier()(f), 1).numpy())
    return np.concatenate(feats), np.concatenate(probs)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(ca @ cb)
    covmean = np.real(covmean)
    return float(mu @ mu + np.trace(ca) + np.trace(cb) - 2 * np.trace(covmean))


def _fd_matched(syn: np.ndarray, ref: np.ndarray, n: int, seed: int = 0, draws: int = 10) -> float:
    rng = np.random.default_rng(seed)
    n = min(n, len(syn))
    return float(np.mean([frechet(syn[rng.choice(len(syn), n, replace=False)], ref)
                          for _ in range(draws)]))


def _dihedral_np(x: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in range(4):
        r = np.rot90(x, k, axes=(1, 2))
        out += [r, r[:, :, ::-1]]
    return out


def pixel_nn(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RMS pixel distance (0-1 scale) from each query to its nearest ref image, minimised over
    the 8 rotations/flips of the query; returns (distance, index into ref)."""
    r = torch.from_numpy(np.ascontiguousarray(ref).reshape(len(ref), -1)).float() / 255
    r_sq = (r * r).sum(1)
    best = torch.full((len(query),), float("inf"))
    arg = torch.zeros(len(query), dtype=torch.long)
    for q in _dihedral_np(np.asarray(query)):
        qt = torch.from_numpy(np.ascontiguousarray(q).reshape(len(q), -1)).float() / 255
        for s in range(0, len(qt), 512):
            part = qt[s:s + 512]
            d = (part * part).sum(1, keepdim=True) + r_sq[None] - 2 * part @ r.T
            v, i = d.min(1)
            better = v < best[s:s + 512]
            best[s:s + 512] = torch.where(better, v, best[s:s + 512])
            arg[s:s + 512] = torch.where(better, i, arg[s:s + 512])
    return (best.clamp_min(0) / r.shape[1]).sqrt().numpy(), arg.numpy()


def feature_nn(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    r = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    sim = q @ r.T
    return 1 - sim.max(1), sim.argmax(1)


def _per_class(y_train, y_val, y_syn, z_train, z_val, z_syn, p_val, p_syn, fd_nn, val_fd_nn,
               px_nn, px_idx, val_px_nn, px_floor) -> dict:
    """Per class: Frechet distances, fidelity, nearest-neighbour distances (synthetic beside
    real val images)."""
    per_class = {}
    for k, c in enumerate(CLASSES):
        s, v, t = y_syn == k, y_val == k, y_train == k
        row = {"n_synthetic": int(s.sum()), "n_val": int(v.sum()), "n_train": int(t.sum())}
        if s.sum() >= 2:
            row["fd_synthetic_vs_train"] = frechet(z_syn[s], z_train[t])
            row["fd_synthetic_vs_train_at_val_n"] = _fd_matched(z_syn[s], z_train[t], int(v.sum()))
            row["fidelity"] = float((p_syn[s].argmax(1) == k).mean())
            row["mean_prob"] = float(p_syn[s, k].mean())
            row["feature_nn_median"] = float(np.median(fd_nn[s]))
            row["pixel_nn_median"] = float(np.median(px_nn[s]))
            row["pixel_nn_min"] = float(px_nn[s].min())
            row["share_closer_than_val_p1"] = float((px_nn[s] < px_floor).mean())
            row["nn_same_class"] = float((y_train[px_idx[s]] == k).mean())
        row["fd_val_vs_train"] = frechet(z_val[v], z_train[t]) if v.sum() >= 2 else None
        row["val_recall"] = float((p_val[v].argmax(1) == k).mean()) if v.any() else None
        row["val_feature_nn_median"] = float(np.median(val_fd_nn[v])) if v.any() else None
        row["val_pixel_nn_median"] = float(np.median(val_px_nn[v])) if v.any() else None
        per_class[c] = row
    return per_class


def _training_split(ds, manifest: dict, data, synthetic):
    """The split the diffusion model was trained on, re-made from its manifest."""
    if ds.fingerprint() != manifest["dataset_fingerprint"]:
        raise DataError(f"{data}: not the data the diffusion model of {synthetic} was trained on "
                        "(dataset fingerprints differ); pass that folder with --data")
    split = make_split(ds, manifest["split_seed"], tuple(manifest["split_fractions"]))
    if split.fingerprint() != manifest["split_fingerprint"]:
        raise DataError(f"{data}: re-making the split (seed {manifest['split_seed']}) does not "
                        "reproduce the diffusion model's training split")
    return split


def quality_report(synthetic: str | Path, data: str | Path, out: str | Path,
                   classifier: str | Path | None = None, baseline_runs=(), synthetic_runs=()
                   ) -> dict:
    from ..layout import DEFAULT_MODEL

    syn, manifest = read_synthetic(synthetic)
    ds = read_ham10000(data)
    split = _training_split(ds, manifest, data, synthetic)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = manifest["img_size"]
    train = ds.subset(split.ids("train"))
    val = ds.subset(split.ids("val"))
    model, card = load_checkpoint(Path(classifier) if classifier else DEFAULT_MODEL)
    x_train = np.asarray(cached_images(train.records, size))
    x_val = np.asarray(cached_images(val.records, size))
    x_syn = np.asarray(cached_images(syn.records, size))
    y_train, y_val, y_syn = (np.asarray(d.labels) for d in (train, val, syn))
    f_train, _ = features(model, x_train, card.input_size)
    f_val, p_val = features(model, x_val, card.input_size)
    f_syn, p_syn = features(model, x_syn, card.input_size)

    mean = f_train.mean(0)
    _, _, vt = np.linalg.svd(f_train - mean, full_matrices=False)
    proj = vt[:PCA_DIMS].T
    z_train, z_val, z_syn = ((f - mean) @ proj for f in (f_train, f_val, f_syn))

    fd_nn, fd_idx = feature_nn(f_syn, f_train)
    val_fd_nn, _ = feature_nn(f_val, f_train)
    px_nn, px_idx = pixel_nn(x_syn, x_train)
    val_px_nn, _ = pixel_nn(x_val, x_train)
    px_floor = float(np.percentile(val_px_nn, 1))

    per_class = _per_class(y_train, y_val, y_syn, z_train, z_val, z_syn, p_val, p_syn, fd_nn,
                           val_fd_nn, px_nn, px_idx, val_px_nn, px_floor)

    doc = {"synthetic": str(Path(synthetic).resolve()), "manifest": manifest,
           "classifier": card.architecture, "classifier_input": card.input_size,
           "classifier_sha256": card.artifact_sha256, "pca_dims": PCA_DIMS,
           "pixel_nn_val_p1": px_floor, "per_class": per_class}
    _pictures(out, x_train, y_train, x_syn, y_syn, px_nn, px_idx, per_class)
    if baseline_runs and synthetic_runs:
        doc["downstream"] = downstream(baseline_runs, synthetic_runs, out)
    write_json(out / "report.json", doc, indent=1)
    write_text(out / "report.md", markdown(doc))
    return doc


def _pictures(out: Path, x_train, y_train, x_syn, y_syn, px_nn, px_idx, per_class) -> None:
    rows, labels = [], []
    rng = np.random.default_rng(0)
    for k, c in enumerate(CLASSES):
        t, s = np.flatnonzero(y_train == k), np.flatnonzero(y_syn == k)
        rows.append(x_train[rng.choice(t, min(8, len(t)), replace=False)])
        labels.append(f"{c} real")
        if len(s):
            rows.append(x_syn[s[:8]])
            labels.append(f"{c} synth")
    save_grid(rows, labels, out / "real_vs_synthetic.png", "real training images vs synthetic, per class")
    closest = np.argsort(px_nn)[:10]
    save_grid([x_syn[closest], x_train[px_idx[closest]]], ["synthetic", "nearest train"],
              out / "nearest_neighbours.png", "the 10 synthetic images closest to a training image")
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    cls = [c for c in CLASSES if "fd_synthetic_vs_train" in per_class[c]]
    x = np.arange(len(cls))
    a.bar(x - 0.2, [per_class[c]["fd_val_vs_train"] or 0 for c in cls], 0.4, label="real val vs train")
    a.bar(x + 0.2, [per_class[c]["fd_synthetic_vs_train_at_val_n"] for c in cls], 0.4,
          label="synthetic vs train (n = val n)")
    a.set_xticks(x, cls), a.set_ylabel(f"Frechet distance (classifier features, PCA {PCA_DIMS})")
    a.legend(), a.grid(alpha=0.3, axis="y")
    b.bar(x - 0.2, [per_class[c]["val_recall"] or 0 for c in cls], 0.4, label="recall on real val")
    b.bar(x + 0.2, [per_class[c]["fidelity"] for c in cls], 0.4, label="fidelity on synthetic")
    b.set_xticks(x, cls), b.set_ylim(0, 1), b.set_ylabel("classified as its class")
    b.legend(), b.grid(alpha=0.3, axis="y")
    save_figure(fig, out / "quality.png")


METRICS = ("balanced_accuracy", "macro_f1", "auc_ovr", "accuracy")


def _run_metrics(run: Path) -> dict:
    path = run / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; is {run} a finished `skinedge train` run?")
    m = json.loads(path.read_text())
    card = json.loads((run / "best" / "card.json").read_text())
    row = {k: m["test"][k] for k in METRICS}
    row.update({f"recall_{c}": m["test"]["per_class"][c]["recall"] for c in CLASSES})
    return {"run": str(run), "seed": m["config"]["seed"], "best_epoch": m["best_epoch"],
            "n_test": m["test"]["n"], "support": {c: m["test"]["per_class"][c]["support"]
                                                  for c in CLASSES},
            "split_fingerprint": card["training"]["split_fingerprint"],
            "synthetic": card["training"].get("synthetic"), "test": row}


def downstream(baselines: list[Path], synthetics: list[Path], out: Path) -> dict:
    """Test metrics of real-only runs vs real + synthetic runs (means over seeds)."""
    arms = {"real_only": [_run_metrics(Path(r)) for r in baselines],
            "real_plus_synthetic": [_run_metrics(Path(r)) for r in synthetics]}
    if len({r["split_fingerprint"] for a in arms.values() for r in a}) != 1:
        raise DataError("the runs were trained on different splits; their test figures are "
                        "not comparable (use --split-file or the same --seed)")
    if any(r["synthetic"] for r in arms["real_only"]) or not all(r["synthetic"] for r in arms["real_plus_synthetic"]):
        raise DataError("--baseline-run must be real-only runs and --synthetic-run runs trained "
                        "with --synthetic")
    keys = list(arms["real_only"][0]["test"])
    mean = {a: {k: float(np.mean([r["test"][k] for r in runs])) for k in keys}
            for a, runs in arms.items()}
    delta = {k: mean["real_plus_synthetic"][k] - mean["real_only"][k] for k in keys}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(CLASSES))
    for off, a, label in ((-0.2, "real_only", "real only"), (0.2, "real_plus_synthetic", "real + synthetic")):
        vals = np.array([[r["test"][f"recall_{c}"] for c in CLASSES] for r in arms[a]])
        ax.bar(x + off, vals.mean(0), 0.4, label=f"{label} (mean of {len(vals)})")
        for v in vals:
            ax.plot(x + off, v, "k.", ms=4)
    ax.set_xticks(x, CLASSES), ax.set_ylim(0, 1), ax.set_ylabel("test recall"), ax.legend()
    ax.set_title(f"test balanced accuracy {mean['real_only']['balanced_accuracy']:.3f} -> "
                 f"{mean['real_plus_synthetic']['balanced_accuracy']:.3f}")
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, out / "downstream_recall.png")
    return {"runs": arms, "mean": mean, "delta": delta}


def _f(v, fmt=".3f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _runs(runs: list[dict]) -> str:
    return ", ".join("`%s` (seed %d)" % (r["run"], r["seed"]) for r in runs)


def markdown(doc: dict) -> str:
    m = doc["manifest"]
    lines = [
        "# Synthetic lesion quality report", "",
        f"Dataset `{doc['synthetic']}`: model `{m['model_sha256'][:12]}`, guidance {m['guidance']}, "
        f"{m['sampler']} {m['steps']} steps, seed {m['seed']}, {m['img_size']} px. Features and "
        f"predictions: `{doc['classifier']}` at {doc['classifier_input']} px (real images are "
        f"resized to {m['img_size']} px first, like the synthetic ones).", "",
        "## Per class", "",
        f"FD: Frechet distance on classifier features (PCA {doc['pca_dims']}) to the real train "
        "images of the class; lower is closer. *val* is real validation images (the floor); "
        "*synth@n* is synthetic subsampled to the val count (FD is biased upward at small n). "
        "Fidelity: share of synthetic images the classifier assigns to their class, beside its "
        "recall on real val. NN: median distance to the nearest training image (feature cosine; "
        "pixel RMS over 8 rotations/flips) for synthetic and for real val images; *copies*: share "
        f"of synthetic images closer to a training image than 99% of val images are "
        f"(pixel RMS < {doc['pixel_nn_val_p1']:.4f}).", "",
        "| class | n synth | n val | FD val | FD synth@n | FD synth | fidelity | val recall | "
        "NN feat synth / val | NN pixel synth / val | copies |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, r in doc["per_class"].items():
        if "fidelity" not in r:
            lines.append(f"| {c} | {r['n_synthetic']} | {r['n_val']} | {_f(r['fd_val_vs_train'], '.1f')} "
                         "| - | - | - | " + _f(r["val_recall"]) + " | - | - | - |")
            continue
        lines.append(
            f"| {c} | {r['n_synthetic']} | {r['n_val']} | {_f(r['fd_val_vs_train'], '.1f')} | "
            f"{r['fd_synthetic_vs_train_at_val_n']:.1f} | {r['fd_synthetic_vs_train']:.1f} | "
            f"{r['fidelity']:.3f} | {_f(r['val_recall'])} | {r['feature_nn_median']:.3f} / "
            f"{_f(r['val_feature_nn_median'])} | {r['pixel_nn_median']:.4f} / "
            f"{_f(r['val_pixel_nn_median'], '.4f')} | {r['share_closer_than_val_p1']:.3f} |")
    lines += ["", "![quality](quality.png)", "", "![real vs synthetic](real_vs_synthetic.png)", "",
              "![nearest neighbours](nearest_neighbours.png)", ""]
    d = doc.get("downstream")
    if d:
        a, b = d["runs"]["real_only"], d["runs"]["real_plus_synthetic"]
        syn = b[0]["synthetic"]
        lines += ["## Downstream: real only vs real + synthetic (same lesion-disjoint test split)", "",
                  f"Real only: {_runs(a)}. Real + synthetic: {_runs(b)}; "
                  f"{syn['n_synthetic']} synthetic + {syn['n_real_train']} real training images "
                  f"({syn['share']:.1%} synthetic). Test n = {a[0]['n_test']}. Means over runs; "
                  "single runs in brackets.", "",
                  "| metric | real only | real + synthetic | change |", "|---|---|---|---:|"]
        for k in d["delta"]:
            name = k if not k.startswith("recall_") else f"recall {k[7:]} (n={a[0]['support'][k[7:]]})"
            cell = lambda runs, arm: (f"{d['mean'][arm][k]:.4f} [" +
                                      ", ".join(f"{r['test'][k]:.3f}" for r in runs) + "]")
            lines.append(f"| {name} | {cell(a, 'real_only')} | {cell(b, 'real_plus_synthetic')} | "
                         f"{d['delta'][k]:+.4f} |")
        lines += ["", "![downstream recall](downstream_recall.png)", ""]
    return "\n".join(lines)
