"""Errors a user can act on. The CLI turns any of these into a message and exit code 2."""
from __future__ import annotations


class SkinedgeError(Exception):
    """Base class: the message says what was wrong, with which file, and what to do."""


class DataError(SkinedgeError):
    """The data folder, metadata CSV or an image is missing or malformed."""


class CheckpointError(SkinedgeError):
    """A checkpoint or artifact is missing, corrupt, or does not match its model card."""


class ConfigError(SkinedgeError):
    """An unknown model, target, option or recipe key."""


class BackendMissingError(SkinedgeError):
    """An optional backend package is not installed."""

    def __init__(self, package: str, extra: str):
        super().__init__(
            f"the optional backend '{package}' is not installed; "
            f"install it with: pip install 'skinedge[{extra}]'"
        )


class OutputError(SkinedgeError):
    """An output file or folder cannot be written (a file in the way, no permission, disk
    full), or would replace something skinedge did not write."""


class ModelOutputError(SkinedgeError):
    """A model gave a non-finite output (NaN or inf): never turned into a label."""
