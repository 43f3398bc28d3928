"""`.env` beside ekai.yaml: environment variables the process does not already have.

The file holds `NAME=value` lines (python-dotenv's syntax: `#` comments, single or double quotes,
an optional `export ` prefix, `${OTHER}` expansion). It is read each time the config is loaded,
at start and on every change the config watcher sees, so adding `ANTHROPIC_API_KEY` to `.env`
makes that provider ready without a restart, and removing the line makes it unready again.

The rule: the real environment wins. `effective_env` never mutates `os.environ`; it returns a
new mapping, the file's values under the process's own, and `load_config` reads provider keys
and gateway keys from it. Because the file's values are never copied into `os.environ`, an edit
of `.env` can change or remove any value that came from it, and can never touch a value the
process was started with.

Values are secrets: nothing here logs or returns them except to `load_config`. The snapshot
keeps only a salted fingerprint of the file (`read`), so a reload notices an edited key
without the digest shown on /health saying anything about it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

NAME = ".env"
_SALT = secrets.token_bytes(16)  # per process: the fingerprint cannot be matched against guesses

log = logging.getLogger("ekai.config")


def env_path(config_path: Path) -> Path:
    return config_path.parent / NAME


def read(path: Path) -> tuple[dict[str, str], str]:
    """The file's `NAME=value` pairs (empty when there is no file) and the fingerprint of exactly
    the bytes they were parsed from (read once: an edit landing between two reads must not pair
    old values with a new fingerprint, or the reload the edit triggers would see "no change").
    A line without `=` is skipped (python-dotenv warns with its line number, never its value)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}, _digest(b"\x00missing")
    except OSError as exc:
        log.error("%s not read: %s", path, type(exc).__name__)
        return {}, _digest(b"\x00unreadable")
    try:
        values = dotenv_values(stream=io.StringIO(data.decode("utf-8")), interpolate=True)
    except UnicodeDecodeError as exc:
        log.error("%s not read: %s", path, type(exc).__name__)
        return {}, _digest(data)
    return {name: value for name, value in values.items() if value is not None}, _digest(data)


def effective_env(config_path: Path, base: Mapping[str, str] | None = None) -> tuple[dict[str, str], str]:
    """`base` (default: the process environment) plus the names only `.env` defines, and the
    file's fingerprint."""
    base = os.environ if base is None else base
    merged, digest = read(env_path(config_path))
    merged.update(base)  # the real environment wins, always
    return merged, digest


def names_from_file(config_path: Path, base: Mapping[str, str] | None = None) -> list[str]:
    """The names whose value comes from `.env` (the process does not have them): for messages."""
    base = os.environ if base is None else base
    return sorted(name for name in read(env_path(config_path))[0] if name not in base)


def _digest(data: bytes) -> str:
    """A salted digest of the file's bytes: changes when the file does, reveals nothing."""
    return hashlib.blake2b(data, key=_SALT, digest_size=16).hexdigest()
