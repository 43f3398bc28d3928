"""The `ekai` command line, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.gateway_proc import ROOT


def ekai(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**base, **(env or {})})


def test_check_prints_the_routing_table(tmp_path, fake):
    write_config(tmp_path, fake)
    done = ekai("check", "--config", str(tmp_path / "ekai.yaml"),
                env={"OPENAI_API_KEY": "k", "OPENROUTER_API_KEY": "k"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    gpt5 = next(line for line in lines if line.startswith("gpt-5 "))
    assert "openrouter[1.0/9.0/0.1/-] > openai[1.25/10.0/0.125/-]" in gpt5  # cheapest first
    sonnet = next(line for line in lines if line.startswith("sonnet -> claude-sonnet-4-6"))
    assert "openrouter[" in sonnet and "anthropic" not in sonnet  # no anthropic key
    assert "no key (set ANTHROPIC_API_KEY)" in done.stdout


def test_check_fails_with_file_line_and_key(tmp_path, fake):
    write_config(tmp_path, fake)
    (tmp_path / "pricing" / "openai.yaml").write_text(
        "provider: openai\nunit: usd_per_million_tokens\nmodels:\n  gpt-x: {input: 1, output: oops}\n")
    done = ekai("check", "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 1 and done.stdout == ""
    assert "openai.yaml:4: models.gpt-x.output: must be a number" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_from_environment_variable(tmp_path, fake):
    write_config(tmp_path, fake)
    done = ekai("check", env={"EKAI_CONFIG": str(tmp_path / "ekai.yaml")})
    assert done.returncode == 0 and str(tmp_path) in done.stdout


def test_shipped_config_checks(tmp_path):
    done = ekai("check", env={"ANTHROPIC_API_KEY": "k"})
    assert done.returncode == 0, done.stderr
    assert any(line.startswith("sonnet -> claude-sonnet-4-6") for line in done.stdout.splitlines())


def test_prices_shows_the_effective_table(tmp_path, fake):
    write_config(tmp_path, fake)
    done = ekai("prices", "claude-sonnet-4-6", "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 0
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert ["anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6", "3.0", "15.0", "0.3", "3.75", "6.0"] in rows
    assert any(r[:3] == ["openrouter", "claude-sonnet-4-6", "anthropic/claude-sonnet-4.6"] for r in rows)


def test_prices_import_keeps_user_entries(tmp_path, fake):
    write_config(tmp_path, fake)
    table = tmp_path / "pricing" / "openai.yaml"
    table.write_text(table.read_text() + "  my-finetune: {input: 7, output: 8, user: true}\n")
    litellm = ROOT.parent / "shared" / "reference" / "litellm-model-prices.json"
    if not litellm.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    done = ekai("prices", "import", "litellm", str(litellm), "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 0, done.stderr
    text = table.read_text()
    assert "my-finetune" in text and "gpt-4o-mini" in text and "gpt-5" in text
    again = ekai("check", "--config", str(tmp_path / "ekai.yaml"))
    assert again.returncode == 0, again.stderr


def test_prices_import_bad_file(tmp_path, fake):
    write_config(tmp_path, fake)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    done = ekai("prices", "import", "openrouter", str(bad), "--config", str(tmp_path / "ekai.yaml"))
    assert done.returncode == 1 and done.stderr.startswith("ekai prices import:")
    assert "Traceback" not in done.stderr
