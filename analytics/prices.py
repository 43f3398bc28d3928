"""Price tables for the dashboard's cache-savings figure, read straight from pricing/*.yaml.

The usage rows carry costs but not the prices behind them, so "what did caching save" needs the
price tables. The gateway has its own, validating loader; until the dashboard can call it, this
module reads the same files with PyYAML, leniently: a file or entry it cannot read is reported
in `PriceBook.problems` and skipped, because a typo in one table should cost the dashboard one
figure, not the whole page. (The gateway's `ekai check` is where such typos get reported with
file, line and key.)

Files are found as the gateway finds them: `pricing.files` in ekai.yaml (globs relative to the
config's folder, merged in order, later entries win), defaulting to `pricing/*.yaml`.
Each model is entered under its client-facing name and, when different, its provider id, so rows
whose `model` is an alias still find their price through `provider_model`. Only base prices are
read; long-prompt `tiers` are ignored (see `queries.cache_savings`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analytics.queries import Price

DEFAULT_GLOBS: tuple[str, ...] = ("pricing/*.yaml",)


@dataclass(frozen=True)
class PriceBook:
    """{(provider, model name or id): Price} plus what could not be read."""

    prices: dict[tuple[str, str], Price] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def price_files(config_path: str | Path) -> list[Path]:
    """The price table files named by the ekai.yaml at `config_path` (which need not exist)."""
    config_path = Path(config_path)
    globs: list[str] = list(DEFAULT_GLOBS)
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    pricing = data.get("pricing") if isinstance(data, dict) else None
    files = pricing.get("files") if isinstance(pricing, dict) else None
    if isinstance(files, str):
        files = [files]
    if isinstance(files, list) and all(isinstance(f, str) for f in files):
        globs = files
    base = config_path.parent
    found: list[Path] = []
    for pattern in globs:
        if Path(pattern).expanduser().is_absolute():
            pattern_path = Path(pattern).expanduser()
            matches = sorted(pattern_path.parent.glob(pattern_path.name))
        else:
            matches = sorted(base.glob(pattern))
        found.extend(m for m in matches if m not in found)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_table(data: Any, source: str) -> tuple[dict[tuple[str, str], Price], list[str]]:
    """One pricing document -> its entries and the problems found in it."""
    if not isinstance(data, dict) or not isinstance(data.get("provider"), str):
        return {}, [f"{source}: no top-level `provider`"]
    provider: str = data["provider"]
    models = data.get("models")
    if not isinstance(models, dict):
        return {}, [f"{source}: no `models` mapping"]
    entries: dict[tuple[str, str], Price] = {}
    names: dict[tuple[str, str], Price] = {}
    problems: list[str] = []
    for name, spec in models.items():
        p_in = _number(spec.get("input")) if isinstance(spec, dict) else None
        if not isinstance(name, str) or not isinstance(spec, dict) or p_in is None:
            problems.append(f"{source}: models.{name}: needs a numeric `input` price")
            continue
        price = Price(
            p_in,
            _number(spec.get("cache_read")),
            _number(spec.get("cache_write")),
            _number(spec.get("cache_write_1h")),
        )
        names[(provider, name)] = price
        if isinstance(spec.get("id"), str):
            entries[(provider, spec["id"])] = price
    entries.update(names)  # a model's own name wins over another model's provider id
    return entries, problems


def load_prices(paths: Iterable[str | Path]) -> PriceBook:
    """Merge the price tables at `paths`, in order (later files win)."""
    prices: dict[tuple[str, str], Price] = {}
    problems: list[str] = []
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {str(exc).splitlines()[0]}")
            continue
        entries, found = parse_table(data, str(path))
        prices.update(entries)
        problems.extend(found)
    return PriceBook(prices, tuple(problems))
