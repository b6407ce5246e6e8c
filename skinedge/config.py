"""Options declared once. Every stage's config is a frozen dataclass whose fields carry their
help text (``option(...)``); the same declaration builds the argparse flags (defaults shown in
``--help``), saves and loads the resolved config beside a run's outputs, and says which
options may change when a run resumes. Import-light: ``--help`` never imports torch."""
from __future__ import annotations

import argparse
import functools
import json
import math
import types
import typing
from dataclasses import MISSING, asdict, field, fields
from pathlib import Path

from .atomic import write_json
from .errors import ConfigError

# Augmentation seeds mix (seed, epoch, image) into one 64-bit number (data/augment.py):
# seeds above this overflow it.
MAX_SEED = 999_999

def option(default=MISSING, help: str = "", *, flag: str | None = None, choices=None,
           metavar: str | None = None, resume: bool = True, cli: bool = True,
           default_text: str | None = None, min=None, max=None, above=None, below=None,
           once: bool = False):
    """A config field. ``resume=False``: may differ when a run resumes (step counts, paths,
    cosmetics); ``cli=False``: not a command-line flag; ``choices`` may be a callable (resolved
    when the parser is built); ``default_text`` replaces the default shown in ``--help``.
    ``min``/``max`` (inclusive) and ``above``/``below`` (exclusive) bound a number, or each
    number of a tuple: checked when the flag is parsed and whenever a config is built.
    ``once``: the flag given twice with different values is a usage error (where the two could
    both be meant, e.g. ``--init imagenet --init RUN/best``; elsewhere the last one wins)."""
    meta = {"help": help, "flag": flag, "choices": choices, "metavar": metavar,
            "resume": resume, "cli": cli, "default_text": default_text,
            "bounds": (min, max, above, below), "once": once}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for a sequence default")
    return field(default=default, metadata=meta)


def _range_text(bounds) -> str:
    lo, hi, above, below = bounds
    low = ("[", lo) if lo is not None else ("(", above)
    high = ("]", hi) if hi is not None else (")", below)
    if low[1] is not None and high[1] is not None:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low[1] is not None:
        return f"at least {lo}" if lo is not None else f"greater than {above}"
    return f"at most {hi}" if hi is not None else f"less than {below}"


def bounds_problem(value, bounds) -> str | None:
    """Why a number breaks ``bounds`` (see ``option``), or None; NaN and infinities never pass."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    lo, hi, above, below = bounds
    if ((lo is not None and value < lo) or (hi is not None and value > hi)
            or (above is not None and value <= above) or (below is not None and value >= below)):
        return f"must be {_range_text(bounds)}"
    return None


def _type_problem(value, hint) -> str | None:
    """Why ``value`` is not of the field type ``hint`` (int, float, str, bool, tuples of those,
    optionally None), or None. An int passes as a float; a bool never passes as a number."""
    if value is None:
        return None if isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint) \
            else "must not be empty (None)"
    kind, item = _base_type(hint)
    if kind is tuple:
        if not isinstance(value, tuple):
            return "must be a list"
        return next(filter(None, (_type_problem(v, item) for v in value)), None)
    ok = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(kind)
    if ok is None:
        return None
    if not isinstance(value, ok) or (kind is not bool and isinstance(value, bool)):
        return f"must be {'an' if kind is int else 'a'} {kind.__name__}, not {type(value).__name__}"
    return None


def _base_type(hint):
    """int | None -> (int, None); tuple[float, ...] -> (tuple, float)."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple, args[0]
    return hint, None


def _parse_number(kind, bounds):
    """An argparse ``type``: the number, range-checked as the flag is parsed."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an' if kind is int else 'a'} "
                                             f"{kind.__name__}, got {text!r}") from None
        problem = bounds_problem(value, bounds) if kind in (int, float) else None
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, not {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _parse_tuple(item_type, bounds=(None, None, None, None)):
    def parse(text: str):
        try:
            values = tuple(item_type(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item_type.__name__} "
                                             f"values, got {text!r}") from None
        for v in values:
            problem = bounds_problem(v, bounds) if item_type in (int, float) else None
            if problem:
                raise argparse.ArgumentTypeError(f"each value {problem}, not {v} in {text!r}")
        return values
    parse.__name__ = f"comma-separated {item_type.__name__}"
    return parse


class _StoreOnce(argparse.Action):
    """Stores a flag's value; the same flag given twice with different values is a usage error
    (``--init imagenet --init RUN/best``: argparse would keep the last one in silence)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_flags_given", {})
        if self.dest in given and given[self.dest] != values:
            raise argparse.ArgumentError(self, f"given twice ({given[self.dest]} and {values}); "
                                         "pass it once")
        given[self.dest] = values
        setattr(namespace, self.dest, values)


def _flag_kwargs(f, hint, default, help_default: bool) -> dict:
    meta = f.metadata
    kind, item = _base_type(hint)
    choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
    kw = {"dest": f.name, "help": meta["help"] or None}
    if meta.get("once"):
        kw["action"] = _StoreOnce
    bounds = meta.get("bounds", (None,) * 4)
    if kind is tuple:
        kw["type"] = _parse_tuple(item, bounds)
    elif kind is not str:
        kw["type"] = _parse_number(kind, bounds)
    if choices is not None:
        kw["choices"] = tuple(choices)
    if meta["metavar"]:
        kw["metavar"] = meta["metavar"]
        if choices is not None:  # the metavar hides them in --help
            kw["help"] = f"{kw['help'] or ''}; one of: {', '.join(map(str, choices))}"
    if default is MISSING:
        kw["required"] = True
    else:
        kw["default"] = default
        if help_default and (default is not None or meta["default_text"]):
            shown = meta["default_text"] or (",".join(map(str, default)) if isinstance(default, tuple)
                                             else default)
            kw["help"] = f"{kw['help'] or ''} (default: {shown})".strip()
    return kw


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _flag_name(f) -> str:
    """How errors name a field: its flag, or its ``flag`` text (or name) when not a flag."""
    default = "--" + f.name.replace("_", "-") if f.metadata.get("cli", False) else f.name
    return f.metadata.get("flag") or default


class Config:
    """Mixin for frozen dataclass configs built from ``option`` fields. Every field's type,
    choices and bounds are checked when a config is built (flags, saved JSON, Python calls);
    a subclass's own ``__post_init__`` calls ``super().__post_init__()`` first."""

    def __post_init__(self):
        hints = _hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            problem = _type_problem(value, hints[f.name]) if f.name in hints else None
            meta = f.metadata
            if problem is None and meta.get("choices") is not None and value is not None:
                choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
                if value not in choices:
                    problem = f"must be one of {', '.join(map(str, choices))}"
            if problem is None and value is not None and any(b is not None for b in meta.get("bounds", ())):
                for v in value if isinstance(value, tuple) else (value,):
                    problem = problem or bounds_problem(v, meta["bounds"])
            if problem:
                raise ConfigError(f"{_flag_name(f)} {value!r}: {problem}")

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict):
        """From saved JSON: unknown keys are an error, and JSON lists become tuples."""
        if not isinstance(d, dict):
            raise ConfigError(f"a {cls.__name__} is a JSON object of options, not "
                              f"{type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @classmethod
    def load(cls, path: Path):
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError, ConfigError) as exc:
            raise ConfigError(f"{path}: not a readable {cls.__name__} ({exc})") from None

    def require_resumable(self, saved: Path, what: str = "run") -> None:
        """Refuse to continue the run whose config is saved at ``saved`` with options that
        must match (those declared resume=True)."""
        diff = type(self).load(saved).differences(self)
        if diff:
            raise ConfigError(f"{Path(saved).parent}: holds a {what} with a different "
                              f"configuration ({', '.join(diff)}); use another --out or the "
                              "same options")

    def differences(self, other) -> list[str]:
        """Options that stop ``other`` from resuming this run (those declared resume=True)."""
        a, b = self.to_dict(), other.to_dict()
        return [f.name for f in fields(self) if f.metadata.get("resume", True)
                and a[f.name] != b[f.name]]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = (),
                      defaults: dict | None = None, defaults_from: str = "") -> None:
        """One flag per ``option`` field (``--img-size`` for ``img_size``). ``defaults``
        overrides some defaults (None where ``defaults_from``, e.g. "the preset", decides)."""
        defaults = defaults or {}
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if not f.metadata.get("cli", False) or f.name in skip:
                continue
            default = defaults.get(f.name, f.default)
            flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
            kind, _ = _base_type(hints[f.name])
            if kind is bool:
                on = not default
                text = f.metadata["help"] if on else f"turn off: {f.metadata['help']}"
                parser.add_argument(flag if on else "--no-" + flag[2:], dest=f.name,
                                    action="store_true" if on else "store_false",
                                    default=default, help=text or None)
                continue
            kw = _flag_kwargs(f, hints[f.name], default, f.name not in defaults)
            if f.name in defaults and defaults_from:
                kw["help"] = f"{kw['help'] or ''} (default: {defaults_from}'s)".strip()
            parser.add_argument(flag, **kw)

    @classmethod
    def flag_values(cls, ns: argparse.Namespace) -> dict:
        """Field values found in parsed flags (None where a preset decides)."""
        return {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}

    @classmethod
    def from_args(cls, ns: argparse.Namespace, **fixed):
        """The config from parsed flags; ``fixed`` gives fields that are not flags, and
        flags left at None fall back to the field's default."""
        kw = {}
        for f in fields(cls):
            if f.name in fixed:
                kw[f.name] = fixed[f.name]
            elif f.metadata.get("cli", False) and getattr(ns, f.name, None) is not None:
                kw[f.name] = getattr(ns, f.name)
        return cls(**kw)
