"""Errors ptmlab raises on bad input: each names what went wrong and how to fix it.

Users see these instead of tracebacks from deep inside torch."""

from __future__ import annotations


class PtmlabError(Exception):
    """Base class. ``fix`` says what the user should do next."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(f"{message}\n  How to fix: {fix}" if fix else message)


class InputError(PtmlabError, ValueError):
    """Text or tensors the model cannot take (empty, unknown tokens only, too long)."""


class DataError(PtmlabError, FileNotFoundError):
    """A corpus or data file is missing, corrupt or has the wrong checksum."""


class CheckpointError(PtmlabError, ValueError):
    """A checkpoint is truncated, corrupt or from a different configuration."""


class OfflineError(PtmlabError, ConnectionError):
    """Something needed the network and the machine is offline (or PTMLAB_OFFLINE=1)."""
