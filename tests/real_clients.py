"""Where the real CLIs (Claude Code, Codex) live for end-to-end tests.

They are npm packages pinned in tests/clients/package.json and installed by `.ci/run`
(`npm install --prefix tests/clients`). A test that needs one skips, saying how to install it,
only when it is absent (a machine without npm or without the registry).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parent / "clients" / "node_modules" / ".bin"
INSTALL = "npm install --prefix tests/clients --no-audit --no-fund"


def cli(name: str) -> Path:
    """Path of the `claude` or `codex` executable; skips the test when it is not installed."""
    path = BIN / name
    if path.exists():
        return path
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.skip(f"{name} CLI not installed; run `{INSTALL}` (needs npm and the npm registry)")
