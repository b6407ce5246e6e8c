"""The model card: one JSON document that travels with every checkpoint and artifact.

It is the only source of labels and preprocessing for the Python API and the apps. Its
fields are type- and range-checked when read.

Integrity (``skinedge.integrity/1``): ``integrity_sha256`` is the sha256 of the artifact's own
bytes, the card inside them included, with every occurrence of that digest read as 64 zeros.
For a folder (a checkpoint's ``card.json`` + ``model.safetensors``, every file of an
.mlpackage but hidden ones such as .DS_Store) it is the sha256 of one line
``relative/path NUL sha256-of-its-bytes LF`` per file, sorted by path, each file's bytes read
the same way. An export writes the card with 64 zeros there, hashes, and patches the digest
over the zeros (same length, so nothing moves); a reader replaces it by zeros again and
re-hashes. So one hash covers weights or graph and every card field (labels, preprocessing,
quantization, calibration), in whatever container. It is a checksum, not a signature: it
catches corruption and edited cards, not someone who rewrites the hash on purpose.

A card without the field loads the old way, with a warning, only if it can be from before
integrity hashes. One that cannot (it holds a field only later versions write,
``SEALED_ERA_FIELDS``, or names skinedge ``SEALED_SINCE`` or later as its writer) had its hash
removed, and is refused (``accept_unsealed``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import stat
import sys
import unicodedata
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .atomic import write_text
from .calibration import check_calibration
from .clinical import check_intended_use, check_malignant_labels, check_referral, default_malignant
from .errors import CheckpointError
from .gate import check_gate
from .labels import CLASS_NAMES, CLASSES
from .preprocess import DEFAULT_LIMITS, INTERPOLATION, RESIZE_POLICY, check_image_limits

CARD_SCHEMA = "skinedge.model_card/1"
INTEGRITY = "skinedge.integrity/1"
PLACEHOLDER = "0" * 64  # integrity_sha256 while the artifact is being hashed
MAX_CARD_BYTES = 4 << 20  # a card is a few KB; refuse to read a huge file as one
MIN_INPUT_SIZE, MAX_INPUT_SIZE, MAX_VIEWS = 16, 2048, 64
MAX_DEPTH = 32  # a card nests 5 levels (gate.ood.precision rows); refuse absurd nesting
# Card text is shown as it is (predict, inspect, the apps), so no string in a card may hold a
# control character (C0/C1, DEL), a format character (direction overrides, zero-width marks) or
# a line or paragraph separator: with them a label could forge output lines or terminal
# escapes. Prose fields may break lines with "\n".
_CONTROL = frozenset(("Cc", "Cf", "Zl", "Zp"))
PROSE_FIELDS = ("intended_use",)
# The field as ``to_json`` writes it: what an export patches, and what a reader finds in a
# file's raw bytes before any parser sees them.
_SEALED = re.compile(rb'"integrity_sha256": "([0-9a-f]{64})"')
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Fields that only skinedge versions writing integrity hashes put in a card (the trust fields
# came after skinedge.integrity/1; `views` did not: exports from before the hash carry it),
# and the first version whose cards are all sealed.
SEALED_ERA_FIELDS = ("calibration", "referral", "gate", "intended_use", "image_limits",
                     "malignant_labels")
SEALED_SINCE = (0, 2)
_warned: set[str] = set()


def regular_file(path: Path, what: str = "file") -> None:
    """CheckpointError unless ``path`` is a regular file (symbolic links followed): a device
    such as /dev/zero, a pipe or a folder is named as such, never read (it may not end)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise CheckpointError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, pipe or socket"
        via = ", through a symbolic link" if os.path.islink(path) else ""
        raise CheckpointError(f"{path}: not a regular file ({kind}{via}); the {what} must be "
                              "a plain file")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a folder (e.g. .mlpackage) as its sorted relative paths and contents."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


def _covered(path: Path, files: Sequence[str] | None) -> list[str]:
    """The relative paths a folder's integrity hash covers: ``files``, or every file."""
    if files is not None:
        return sorted(files)
    found = (p.relative_to(path) for p in path.rglob("*") if p.is_file())
    return sorted(r.as_posix() for r in found  # not .DS_Store and the like
                  if not any(part.startswith(".") for part in r.parts))


def integrity_sha(data: bytes, digest: str) -> str:
    """sha256 of ``data`` with every occurrence of ``digest`` (hex) read as 64 zeros."""
    return hashlib.sha256(data.replace(digest.encode(), PLACEHOLDER.encode())).hexdigest()


def _file_integrity_sha(path: Path, digest: str) -> str:
    """:func:`integrity_sha` of a file read in chunks (weights can be gigabytes): the same
    left-to-right replacement, holding back a digest's length at each chunk's end."""
    needle, zeros, keep = digest.encode(), PLACEHOLDER.encode(), len(digest) - 1
    h, pending = hashlib.sha256(), b""
    regular_file(path)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                buf, pos = pending + chunk, 0
                cut = len(buf) - keep  # a match starting before here lies wholly in buf
                while 0 <= (i := buf.find(needle, pos)) < cut:
                    h.update(buf[pos:i] + zeros)
                    pos = i + len(needle)
                stop = max(pos, cut)
                h.update(buf[pos:stop])
                pending = buf[stop:]
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    h.update(pending)
    return h.hexdigest()


def integrity_digest(path: Path, digest: str = PLACEHOLDER,
                     files: Sequence[str] | None = None) -> str:
    """What ``integrity_sha256`` must be for the file or folder ``path`` whose card holds
    ``digest`` (``files``: the paths a folder's hash covers; default every file in it)."""
    path = Path(path)
    if not path.is_dir():
        return _file_integrity_sha(path, digest)
    h = hashlib.sha256()
    for name in _covered(path, files):
        h.update(f"{name}\0{_file_integrity_sha(path / name, digest)}\n".encode())
    return h.hexdigest()


def seal(path: Path, files: Sequence[str] | None = None,
         holders: Sequence[str] | None = None) -> str:
    """Hash ``path``, written with a card whose ``integrity_sha256`` is ``PLACEHOLDER``, and
    write the digest over the placeholder in place (same length); returns the digest.
    ``holders``: the files of a folder that may hold the card (default: those hashed)."""
    path = Path(path)
    digest = integrity_digest(path, PLACEHOLDER, files)
    old, new = (f'"integrity_sha256": "{d}"'.encode() for d in (PLACEHOLDER, digest))
    holders = [path] if not path.is_dir() else [path / n for n in holders or _covered(path, files)]
    patched = 0
    for f in holders:
        data = f.read_bytes()
        if old in data:
            f.write_bytes(data.replace(old, new))
            patched += 1
    if not patched:
        raise CheckpointError(f"{path}: no model card with a blank integrity_sha256 in it to seal")
    return digest


def sealed_fields(data: bytes) -> list[str]:
    """The integrity digest of every card written in a file's raw bytes, in order (one, in a
    sealed artifact)."""
    return [m.decode() for m in _SEALED.findall(data)]


def accept_unsealed(path: Path, card: "ModelCard", remedy: str) -> None:
    """A card without ``integrity_sha256``: refused (CheckpointError) when its writer sealed
    every card, since then the hash was removed and an edit would go unnoticed; else, a card
    from before integrity hashes, it loads with a warning once per file and process."""
    if card.must_be_sealed:
        raise CheckpointError(f"{path}: its model card has no integrity_sha256, but "
                              f"{card.must_be_sealed}: the hash was removed, so its labels or "
                              "preprocessing may have been edited; refused. Use the file as "
                              "skinedge wrote it, or export it again")
    if str(path) in _warned:
        return
    _warned.add(str(path))
    print(f"skinedge: warning: {path}: written before integrity hashes ({INTEGRITY}): its "
          f"model card is not covered by a hash, so an edited card would go unnoticed; "
          f"{remedy}", file=sys.stderr, flush=True)


def software_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("skinedge", "torch", "timm", "executorch", "coremltools", "onnx", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_in(lo: int, hi: int | None = None) -> Callable[[Any], str]:
    def check(v) -> str:
        if _is_int(v) and lo <= v and (hi is None or v <= hi):
            return ""
        return (f"must be an integer from {lo} to {hi}" if hi is not None
                else f"must be an integer of at least {lo}")
    return check


def _three(lo: float, hi: float, open_low: bool = False) -> Callable[[Any], str]:
    def check(v) -> str:
        if not isinstance(v, (list, tuple)) or len(v) != 3:
            return "must be a list of three numbers (R, G, B)"
        if not all(_is_number(x) for x in v):
            return "must be three finite numbers"
        if not all((lo < x if open_low else lo <= x) and x <= hi for x in v):
            return f"must be three numbers in {'(' if open_low else '['}{lo:g}, {hi:g}]"
        return ""
    return check


def _labels(v) -> str:
    if not isinstance(v, (list, tuple)):
        return "must be a list of class codes"
    if len(v) < 2:
        return "must list at least 2 classes"
    bad = next((x for x in v if not isinstance(x, str) or not x.strip()), None)
    if bad is not None:
        return f"must be non-empty strings, not {bad!r}"
    dup = next((x for i, x in enumerate(v) if x in v[:i]), None)
    return f"has duplicate label {dup!r}" if dup is not None else ""


def _kind(t: type, what: str, nonempty: bool = False) -> Callable[[Any], str]:
    return lambda v: "" if isinstance(v, t) and (v or not nonempty) else f"must be {what}"


def _exactly(*allowed) -> Callable[[Any], str]:
    def check(v) -> str:
        ok = any(list(v) == list(a) if isinstance(a, tuple) and isinstance(v, (list, tuple))
                 else v == a for a in allowed)
        return "" if ok else "must be " + " or ".join(repr(list(a) if isinstance(a, tuple) else a)
                                                      for a in allowed) + " (what skinedge feeds)"
    return check


def _hex_or_empty(v) -> str:
    return "" if v == "" or (isinstance(v, str) and _HEX64.fullmatch(v)) else \
        "must be empty or 64 hex digits (a sha256)"


# How each field must look; a field left out takes its default. Preprocessing fields admit only
# what preprocess.py does: a card that asks for anything else would be silently misread.
_FIELD_RULES: dict[str, Callable[[Any], str]] = {
    "architecture": _kind(str, "a non-empty string", nonempty=True),
    "input_size": _int_in(MIN_INPUT_SIZE, MAX_INPUT_SIZE),
    "mean": _three(0.0, 1.0),
    "std": _three(0.0, 1.0, open_low=True),
    "params": _int_in(0),
    "flops": _int_in(0),
    "labels": _labels,
    "label_names": lambda v: "" if isinstance(v, (list, tuple))
    and all(isinstance(x, str) for x in v) else "must be a list of strings",
    "color_order": _exactly("RGB"),
    "value_range": _exactly((0, 1)),
    "layout": _exactly("NCHW"),
    "normalization": _exactly("in_graph"),
    "resize": _exactly(RESIZE_POLICY),
    "interpolation": _exactly(INTERPOLATION),
    "views": _int_in(1, MAX_VIEWS),
    **{k: _kind(str, "a string") for k in ("quantization", "weights_dtype", "format",
                                           "artifact_file", "artifact_hash_scope")},
    **{k: _kind(dict, "a JSON object") for k in ("training", "metrics", "software",
                                                 "calibration", "referral", "gate",
                                                 "intended_use")},
    "artifact_sha256": _hex_or_empty,
    "integrity_sha256": _hex_or_empty,
}


def _must_be_sealed(d: dict[str, Any]) -> str:
    """Why the writer of card document ``d`` sealed it, "" when it may predate the hash."""
    newer = next((k for k in SEALED_ERA_FIELDS if k in d), None)
    if newer:
        return f"it has the field '{newer}', which only versions that seal their cards write"
    version = str(d.get("software", {}).get("skinedge", ""))
    m = re.match(r"(\d+)\.(\d+)", version)
    if m and (int(m[1]), int(m[2])) >= SEALED_SINCE:
        return f"it was written by skinedge {version}, which seals every card it writes"
    return ""


def printable(text) -> str:
    """``text`` as a terminal shows it literally, on one line: every character card text may
    not hold (see _CONTROL; "\\n" included) escaped as Python writes it ("\\n", "\\x1b",
    "\\u202e"). Every printer of text from a file, a card or a file name goes through this."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ascii(c)[1:-1] if unicodedata.category(c) in _CONTROL else c for c in text)


def _first_control(text: str, prose: bool) -> str:
    """The first character of ``text`` that card text may not hold ("\\n" allowed in prose)."""
    if text.isprintable():
        return ""
    return next((c for c in text if unicodedata.category(c) in _CONTROL
                 and not (prose and c == "\n")), "")


def _text_problem(v, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(where, what) of the first string (key or value) in card document ``v`` holding a
    control character, or of nesting deeper than MAX_DEPTH; None when there is none."""
    if depth > MAX_DEPTH:
        return path, f"nests deeper than {MAX_DEPTH} levels"
    if isinstance(v, str):
        c = _first_control(v, path.split(".")[0].split("[")[0] in PROSE_FIELDS)
        return (path, f"holds a control character ({ascii(c)[1:-1]})") if c else None
    items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
    for k, x in items:
        where = f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}" if path else str(k)
        if isinstance(k, str) and (c := _first_control(k, False)):
            return ascii(where)[1:-1], f"has a key holding a control character ({ascii(c)[1:-1]})"
        found = _text_problem(x, where, depth + 1)
        if found:
            return found
    return None


def _check_text(d: dict[str, Any], source: str) -> None:
    """CheckpointError naming the field whose text could forge output (see _CONTROL)."""
    found = _text_problem(d)
    if found:
        where, problem = found
        field_name = re.split(r"[.\[]", where)[0]
        at = f" at {where}" if where != field_name else ""
        raise CheckpointError(f"{source}: model card field '{field_name}' {problem}{at}; card "
                              "text is shown as it is, so control characters (line breaks "
                              "outside prose, terminal escapes, direction marks) are refused")


def _check_fields(d: dict[str, Any], source: str) -> None:
    """CheckpointError naming ``source`` and the first field that is malformed."""
    for name, rule in _FIELD_RULES.items():
        problem = rule(d[name]) if name in d else ""
        if problem:
            found = "" if problem.startswith("has ") else f", not {str(json.dumps(d[name]))[:60]}"
            raise CheckpointError(f"{source}: model card field '{name}' {problem}{found}")
    n, names = len(d["labels"]), d.get("label_names", CLASSES)
    if len(names) != n:
        raise CheckpointError(f"{source}: model card field 'label_names' must give one per label "
                              f"({n} labels, {len(names)} names)")
    for name, problem in (("calibration", check_calibration(d.get("calibration", {}), n)),
                          ("referral", check_referral(d.get("referral", {}), d["labels"])),
                          ("malignant_labels", check_malignant_labels(
                              d.get("malignant_labels", []), d["labels"])),
                          ("image_limits", check_image_limits(d.get("image_limits", {}))),
                          ("gate", check_gate(d.get("gate", {}))),
                          ("intended_use", check_intended_use(d.get("intended_use", {})))):
        if problem:
            raise CheckpointError(f"{source}: model card field '{name}' {problem}")


@dataclass(frozen=True)
class ModelCard:
    architecture: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    params: int
    flops: int
    labels: tuple[str, ...] = CLASSES
    label_names: tuple[str, ...] = tuple(CLASS_NAMES[c] for c in CLASSES)
    color_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    layout: str = "NCHW"
    normalization: str = "in_graph"  # mean/std are applied inside the model
    resize: str = RESIZE_POLICY
    interpolation: str = INTERPOLATION
    quantization: str = "none"
    weights_dtype: str = "float32"
    format: str = "checkpoint"
    views: int = 1  # test-time views averaged inside the graph (8: the dihedral views)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=software_versions)
    # Trust fields (empty on older cards: uncalibrated, no referral threshold, no gate):
    # calibration.py, clinical.py and gate.py say what each holds and how it is applied.
    calibration: dict[str, Any] = field(default_factory=dict)
    referral: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    intended_use: dict[str, Any] = field(default_factory=dict)
    # The labels summed into the malignant probability where the card has no referral field
    # (None: clinical.default_malignant of the labels, resolved on construction), and the
    # bounds on the work per image (preprocess.ImageLimits; a card may tighten them only).
    # Both are written so the apps read them from the card; older cards get the defaults.
    malignant_labels: tuple[str, ...] | None = None
    image_limits: dict[str, int] = field(default_factory=DEFAULT_LIMITS.to_dict)
    artifact_file: str = ""
    artifact_sha256: str = ""
    artifact_hash_scope: str = "file"
    # sha256 over the artifact and this card (see the module docstring); "" on older cards
    integrity_sha256: str = ""
    schema: str = CARD_SCHEMA
    # Not a card field (never written): why the document it was read from must carry
    # integrity_sha256 ("" when it may be from before integrity hashes; see accept_unsealed).
    must_be_sealed: str = field(default="", repr=False, compare=False)

    def __post_init__(self):
        if self.malignant_labels is None:
            object.__setattr__(self, "malignant_labels", default_malignant(self.labels))

    @property
    def macs(self) -> int:
        return self.flops // 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["must_be_sealed"]
        d["macs"] = self.macs
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def with_(self, **changes) -> "ModelCard":
        """A copy with ``changes``; new labels keep only the malignant labels they still have."""
        if "labels" in changes and "malignant_labels" not in changes:
            changes["malignant_labels"] = tuple(c for c in self.malignant_labels
                                                if c in changes["labels"])
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<card>") -> "ModelCard":
        """The card in ``d``, every field type- and range-checked (CheckpointError naming
        ``source`` and the field otherwise); keys this version does not know are ignored."""
        if not isinstance(d, dict) or d.get("schema") != CARD_SCHEMA:
            raise CheckpointError(f"{source}: not a skinedge model card (schema "
                                  f"{d.get('schema') if isinstance(d, dict) else None!r})")
        required = {"architecture", "input_size", "mean", "std", "params", "flops", "labels"}
        missing = required - d.keys()
        if missing:
            raise CheckpointError(f"{source}: model card lacks {', '.join(sorted(missing))}")
        _check_text(d, source)
        _check_fields(d, source)
        names = {f.name for f in fields(cls)} - {"must_be_sealed"}
        kw = {k: v for k, v in d.items() if k in names}
        kw["image_limits"] = {**DEFAULT_LIMITS.to_dict(), **kw.get("image_limits", {})}
        for k in ("mean", "std", "labels", "label_names", "value_range", "malignant_labels"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw, must_be_sealed=_must_be_sealed(d))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<card>") -> "ModelCard":
        """The card in ``text`` (bytes: UTF-8, as containers store it), checked as from_dict."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            return cls.from_dict(json.loads(text), source)
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{source}: model card is not valid UTF-8, so the file is "
                                  f"corrupt ({exc.reason} at byte {exc.start}); export it "
                                  "again") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source}: model card is not valid JSON ({exc})") from None
        except RecursionError:
            raise CheckpointError(f"{source}: model card nests too deeply (a card nests at "
                                  f"most {MAX_DEPTH} levels): not a card skinedge wrote; export "
                                  "it again") from None

    def save(self, path: Path) -> None:
        write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        path = Path(path)
        regular_file(path, "model card")
        if path.stat().st_size > MAX_CARD_BYTES:
            raise CheckpointError(f"{path}: {path.stat().st_size} bytes is too large for a model "
                                  f"card (at most {MAX_CARD_BYTES}); not a JSON card")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise CheckpointError(f"{path}: model card is not text (not a JSON card)") from None
        return cls.from_json(text, str(path))
