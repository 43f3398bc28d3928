"""Price importers: LiteLLM's price map and OpenRouter's model list into pricing/<provider>.yaml.

A price table is one YAML file per provider (see ../shared/CONTRACT.md, "Price tables"): a header
(`provider`, `unit: usd_per_million_tokens`, `source`, `updated`) and `models`, a mapping from the
model name clients send to its prices in USD per million tokens. This module turns the two public
price lists into such tables and merges them into the files on disk. Design decisions:

- Exact numbers. Both sources give USD per token (LiteLLM as JSON floats such as 3e-06, OpenRouter
  as strings such as "0.000003"). Each price goes through `Decimal(str(x)) * 1_000_000` and is
  written as a plain short decimal (3.0, 0.075), never through float arithmetic, so no
  0.30000000000000004 reaches a file. As a guard against float noise already present in a source,
  the result is rounded to 12 significant digits (real prices have at most 6 or 7).
- Unknown is not zero. A price that is missing, negative (OpenRouter's "-1"), non-numeric or a
  boolean is unknown; a model whose input or output price is unknown is left out of the table
  rather than shipped at $0 (a zero-priced model would win every cheapest-route decision and its
  usage would cost nothing). An explicit 0 (free models) is kept.
- Text generation only. From LiteLLM we take `mode == "chat"` entries of the provider's own
  `litellm_provider`, and leave out fine-tuned `ft:` names, region or deployment copies (a `/` in
  the name, or a `us.`/`eu.`/... prefix) and chat entries that produce audio (gpt-audio and the
  audio previews: their audio tokens have their own prices, which the gateway does not count).
  `responses`-only models (o1-pro, gpt-5.1-codex, ...) are imported with `format: responses`:
  the gateway sends them only through the Responses API, whatever the client spoke.
- Tiers. LiteLLM's `*_above_<N>k_tokens` fields (200k for Anthropic and xAI, 272k for newer OpenAI
  models, 100k for some) become `tiers: [{above_input_tokens: N*1000, ...}]`. A tier holds the
  fields the source gives; a field a tier leaves out keeps the base price (LiteLLM's rule).
  Batch, flex, priority and similar service-tier variants are not imported.
- OpenRouter keys. OpenRouter serves other vendors' models under slugs
  (`anthropic/claude-sonnet-4.6`, `openai/gpt-4o`, `x-ai/grok-4`). When a slug names a model of
  a direct table (Anthropic writes version dots as dashes: claude-sonnet-4.6 is
  claude-sonnet-4-6), the entry's key is that direct name and `id` holds the slug, so routing can
  compare OpenRouter's price with the direct provider's for the same name. Otherwise the slug
  itself is the key. Slugs are processed in sorted order and a direct name is given to the first
  slug that claims it, so keys are unique and stable.
- Merging. An entry with `user: true` belongs to the user: an import never changes or removes it
  and it wins over an imported entry of the same key. Every other entry is replaced by the import,
  and dropped when the import no longer has it. An import that yields no model at all for a
  provider leaves that file alone, so a broken or partial source cannot wipe a table (LiteLLM's
  own price map once fell back silently and priced new models at $0).
- Stable files. Models are sorted by key and each entry's fields come in a fixed order, so a
  re-import gives a small diff. The YAML is written by hand (PyYAML cannot emit Decimal and would
  write small floats in scientific notation) and read back with `yaml.safe_load`; comments inside
  a table are not kept across an import. Files are replaced atomically (write, then rename), as a
  file watcher may read them at any moment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import yaml

Entry = dict[str, Any]
Table = dict[str, Entry]

UNIT: Final = "usd_per_million_tokens"
DIRECT_PROVIDERS: Final = ("anthropic", "openai", "xai")
PROVIDERS: Final = (*DIRECT_PROVIDERS, "openrouter")
LITELLM_SOURCE: Final = "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"
OPENROUTER_SOURCE: Final = "https://openrouter.ai/api/v1/models"

PRICE_FIELDS: Final = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
TIER_FIELDS: Final = ("above_input_tokens", *PRICE_FIELDS)
ENTRY_FIELDS: Final = ("id", *PRICE_FIELDS, "tiers", "format")

FILE_HEADER: Final = (
    "# ekai price table, USD per million tokens. Written by `ekai prices import`: an entry\n"
    "# marked `user: true` is never changed or removed by an import; every other entry is.\n"
)

# Our field name -> LiteLLM's per-token field name.
_LITELLM_FIELDS: Final = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
}
_LITELLM_TIER_KEY: Final = re.compile(r"^(?P<field>[a-z0-9_]+?)_above_(?P<k>\d+)k_tokens$")
_REGION_PREFIX: Final = re.compile(r"^(us|eu|apac|ap|au|jp|ca|global|us-gov)\.", re.IGNORECASE)

# Our field name -> OpenRouter's `pricing` field name.
_OPENROUTER_FIELDS: Final = {
    "input": "prompt",
    "output": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
}
# OpenRouter vendor prefix -> the direct provider whose model names it uses.
_OPENROUTER_VENDORS: Final = {"anthropic": "anthropic", "openai": "openai", "x-ai": "xai"}

_MILLION: Final = Decimal(1_000_000)
_NOISE_GUARD: Final = Context(prec=12, rounding=ROUND_HALF_EVEN)
_PLAIN_STRING: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*$")


# --- numbers -------------------------------------------------------------------------------------


def per_million(per_token: object) -> Decimal | None:
    """A per-token USD price (float, int, decimal string) as USD per million; None if unknown.

    Unknown means missing, non-numeric, a boolean, not finite or negative (OpenRouter's "-1").
    """
    if per_token is None or isinstance(per_token, bool):
        return None
    if not isinstance(per_token, int | float | str | Decimal):
        return None
    try:
        value = Decimal(str(per_token).strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return _NOISE_GUARD.plus(value * _MILLION).normalize()


def format_price(value: Decimal) -> str:
    """A price as a plain decimal for YAML: 3.0, 0.075, 112.5 (never 3E+1 or 3e-06)."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def to_decimal(value: object) -> object:
    """A YAML float as the Decimal of its shortest repr (0.3 -> Decimal('0.3')); others unchanged.

    Entries read from a file and entries built by an importer then compare by value.
    """
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: to_decimal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_decimal(item) for item in value]
    return value


# --- LiteLLM -------------------------------------------------------------------------------------


def litellm_model_name(key: str, provider: str) -> str | None:
    """The client-facing model name for a LiteLLM key of `provider`, or None to leave it out.

    xAI keys carry an `xai/` prefix that is dropped; OpenRouter keys keep their `openrouter/`
    prefix off too and return the slug. Fine-tuned (`ft:`) names, region copies (`us.` ...) and
    any other `/`-qualified key are duplicates or deployments, not a model of the provider.
    """
    prefix = {"xai": "xai/", "openrouter": "openrouter/"}.get(provider, "")
    name = key[len(prefix) :] if prefix and key.startswith(prefix) else key
    if provider == "openrouter":
        return name if key.startswith(prefix) and name else None
    if not name or name.startswith("ft:") or "/" in name or _REGION_PREFIX.match(name):
        return None
    return name


def is_text_chat(raw: Mapping[str, Any]) -> bool:
    """A LiteLLM entry for a text chat model (not embeddings, images, audio, realtime, ...), served
    through Chat Completions or only through the Responses API (`mode: responses`)."""
    return raw.get("mode") in ("chat", "responses") and raw.get("supports_audio_output") is not True


def litellm_prices(raw: Mapping[str, Any]) -> Entry:
    """The base per-million prices of a LiteLLM entry, known fields only."""
    prices: Entry = {}
    for field, source_field in _LITELLM_FIELDS.items():
        value = per_million(raw.get(source_field))
        if value is not None:
            prices[field] = value
    return prices


def litellm_tiers(raw: Mapping[str, Any]) -> list[Entry]:
    """LiteLLM's `<field>_above_<N>k_tokens` prices as tiers, sorted by threshold."""
    by_field = {source: field for field, source in _LITELLM_FIELDS.items()}
    tiers: dict[int, Entry] = {}
    for key, per_token in raw.items():
        match = _LITELLM_TIER_KEY.match(key)
        field = by_field.get(match["field"]) if match else None
        value = per_million(per_token) if field else None
        if match and field and value is not None:
            threshold = int(match["k"]) * 1000
            tiers.setdefault(threshold, {"above_input_tokens": threshold})[field] = value
    return [_ordered(tiers[threshold], TIER_FIELDS) for threshold in sorted(tiers)]


def litellm_entry(raw: Mapping[str, Any]) -> Entry | None:
    """A price-table entry from one LiteLLM entry; None when input or output price is unknown."""
    entry = litellm_prices(raw)
    if "input" not in entry or "output" not in entry:
        return None
    tiers = litellm_tiers(raw)
    if tiers:
        entry["tiers"] = tiers
    if raw.get("mode") == "responses":
        entry["format"] = "responses"
    return entry


def _litellm_candidates(data: Mapping[str, Any], provider: str) -> dict[str, Entry]:
    """Name -> entry for every text chat model LiteLLM lists under `provider`."""
    found: dict[str, Entry] = {}
    for key in sorted(data):
        raw = data[key]
        if not isinstance(raw, Mapping) or raw.get("litellm_provider") != provider:
            continue
        name = litellm_model_name(key, provider)
        entry = litellm_entry(raw) if name and is_text_chat(raw) else None
        if name and entry and name not in found:
            found[name] = entry
    return found


def import_litellm(
    data: Mapping[str, Any], provider: str, direct_models: Collection[str] | None = None
) -> Table:
    """The price table of `provider` (anthropic, openai, xai, openrouter) from LiteLLM's map.

    For openrouter, `direct_models` are the model names of the direct tables, used by the key
    rule (see `openrouter_key`); by default the anthropic, openai and xai tables of `data`.
    """
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    found = _litellm_candidates(data, provider)
    if provider != "openrouter":
        return found
    if direct_models is None:
        direct_models = {name for p in DIRECT_PROVIDERS for name in _litellm_candidates(data, p)}
    return assign_openrouter_keys(found, direct_models)


# --- OpenRouter ----------------------------------------------------------------------------------


def openrouter_direct_name(slug: str, direct_models: Collection[str]) -> str | None:
    """The direct-table model an OpenRouter slug names, if any.

    `anthropic/claude-sonnet-4.6` -> `claude-sonnet-4-6` (Anthropic writes version dots as
    dashes), `openai/gpt-4o` -> `gpt-4o`, `x-ai/grok-4` -> `grok-4`; other vendors -> None.
    """
    vendor, _, model = slug.partition("/")
    if vendor not in _OPENROUTER_VENDORS or not model:
        return None
    candidates = [model]
    if vendor == "anthropic":
        candidates.append(re.sub(r"(?<=\d)\.(?=\d)", "-", model))
    return next((name for name in candidates if name in direct_models), None)


def assign_openrouter_keys(by_slug: Mapping[str, Entry], direct_models: Collection[str]) -> Table:
    """Key OpenRouter entries: the direct model name (with `id` = slug) when free, else the slug.

    Slugs go in sorted order, so when two slugs name the same direct model the first keeps the
    direct name and the other stays under its slug: no two entries share a key.
    """
    table: Table = {}
    for slug in sorted(by_slug):
        direct = openrouter_direct_name(slug, direct_models)
        key = direct if direct and direct not in table and direct not in by_slug else slug
        entry = dict(by_slug[slug])
        entry.pop("id", None)
        table[key] = _ordered({"id": slug, **entry}, ENTRY_FIELDS) if key != slug else entry
    return table


def openrouter_outputs_text(model: Mapping[str, Any]) -> bool:
    """Whether an OpenRouter model produces text (`architecture.output_modalities`)."""
    architecture = model.get("architecture")
    if not isinstance(architecture, Mapping):
        return True
    outputs = architecture.get("output_modalities")
    if isinstance(outputs, list):
        return "text" in outputs
    modality = architecture.get("modality")
    if isinstance(modality, str) and "->" in modality:
        return "text" in modality.split("->", 1)[1].split("+")
    return True


def openrouter_entry(model: Mapping[str, Any]) -> Entry | None:
    """A price-table entry from one model of OpenRouter's /api/v1/models; None if unpriced."""
    pricing = model.get("pricing")
    if not isinstance(pricing, Mapping) or not openrouter_outputs_text(model):
        return None
    entry: Entry = {}
    for field, source_field in _OPENROUTER_FIELDS.items():
        value = per_million(pricing.get(source_field))
        if value is not None:
            entry[field] = value
    return entry if "input" in entry and "output" in entry else None


def import_openrouter(models_json: Mapping[str, Any], direct_models: Collection[str] = frozenset()) -> Table:
    """The OpenRouter price table from the JSON of OpenRouter's `GET /api/v1/models`.

    `direct_models` are the model names of the anthropic, openai and xai tables (key rule:
    see `assign_openrouter_keys`). Models without text output and routers with unknown ("-1")
    prices such as openrouter/auto are left out.
    """
    by_slug: dict[str, Entry] = {}
    for model in _openrouter_models(models_json):
        slug = model.get("id")
        entry = openrouter_entry(model)
        if isinstance(slug, str) and slug and entry and slug not in by_slug:
            by_slug[slug] = entry
    return assign_openrouter_keys(by_slug, direct_models)


def _openrouter_models(models_json: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The model objects of an OpenRouter /models answer; ValueError if it has another shape."""
    data = models_json.get("data") if isinstance(models_json, Mapping) else None
    if not isinstance(data, list):
        raise ValueError('not an OpenRouter /api/v1/models answer: no "data" list')
    return [model for model in data if isinstance(model, Mapping)]


# --- merging -------------------------------------------------------------------------------------


def is_user_entry(entry: object) -> bool:
    """An entry the user wrote (`user: true`), which imports leave alone."""
    return isinstance(entry, Mapping) and entry.get("user") is True


def merge_tables(existing: Mapping[str, Entry], imported: Mapping[str, Entry]) -> Table:
    """The imported entries, plus every user entry of `existing` (which wins on a shared key).

    Non-user entries of `existing` are replaced by the import, or dropped when it lacks them.
    """
    merged: Table = {key: dict(entry) for key, entry in imported.items()}
    merged.update({key: entry for key, entry in existing.items() if is_user_entry(entry)})
    return {key: merged[key] for key in sorted(merged)}


@dataclass(frozen=True)
class MergeSummary:
    """What an import did to one table: model names per kind of change."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept_user: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """How many models the merged table holds."""
        return len(self.added) + len(self.changed) + len(self.kept_user) + len(self.unchanged)

    def __str__(self) -> str:
        return (
            f"{self.total} models: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.kept_user)} user entries kept"
        )


def summarize_merge(existing: Mapping[str, Entry], imported: Mapping[str, Entry]) -> MergeSummary:
    """The change summary of `merge_tables(existing, imported)`."""
    user = {key for key, entry in existing.items() if is_user_entry(entry)}
    old = {key: to_decimal(entry) for key, entry in existing.items() if key not in user}
    new = {key: to_decimal(entry) for key, entry in imported.items() if key not in user}
    return MergeSummary(
        added=tuple(sorted(new.keys() - old.keys())),
        changed=tuple(sorted(key for key in new.keys() & old.keys() if new[key] != old[key])),
        removed=tuple(sorted(old.keys() - new.keys())),
        kept_user=tuple(sorted(user)),
        unchanged=tuple(sorted(key for key in new.keys() & old.keys() if new[key] == old[key])),
    )


# --- files ---------------------------------------------------------------------------------------


def render_table(
    provider: str,
    models: Mapping[str, Entry],
    source: str,
    updated: date | str,
    comment: str | None = None,
) -> str:
    """The YAML text of a price table: header comment, header fields, models sorted by key."""
    lines = [FILE_HEADER.rstrip("\n")]
    lines += [f"# {line}".rstrip() for line in (comment or "").splitlines()]
    if isinstance(updated, str) and _is_iso_date(updated):
        updated = date.fromisoformat(updated)
    lines += [
        f"provider: {_scalar(provider)}",
        f"unit: {UNIT}",
        f"source: {_scalar(source)}",
        f"updated: {_scalar(updated)}",
    ]
    if not models:
        lines.append("models: {}")
    else:
        lines.append("models:")
        for key in sorted(models):
            lines.append(f"  {_scalar(key)}:")
            lines += _mapping_lines(_ordered(models[key], ENTRY_FIELDS, last="user"), 4)
    return "\n".join(lines) + "\n"


def write_table(
    path: Path | str,
    provider: str,
    models: Mapping[str, Entry],
    source: str,
    updated: date | str,
    comment: str | None = None,
) -> None:
    """Write a price table to `path`, atomically (temporary file, then rename)."""
    path = Path(path)
    text = render_table(provider, models, source, updated, comment)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def read_table(path: Path | str) -> dict[str, Any]:
    """A price table file as {provider, unit, source, updated, models}; ValueError if malformed.

    Prices come back as Decimal (the shortest repr of YAML's float), so they compare exactly with
    imported entries. `provider` must equal the file name's stem and `unit` must be
    usd_per_million_tokens.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {_one_line(error)}") from error
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: expected a mapping with provider, unit and models")
    provider = document.get("provider")
    if provider != path.stem:
        raise ValueError(f"{path}: provider is {provider!r}, expected {path.stem!r}")
    if document.get("unit") != UNIT:
        raise ValueError(f"{path}: unit is {document.get('unit')!r}, expected {UNIT!r}")
    models = document.get("models") or {}
    if not isinstance(models, Mapping) or not all(isinstance(e, Mapping) for e in models.values()):
        raise ValueError(f"{path}: models must map each model name to its prices")
    updated = document.get("updated")
    return {
        "provider": path.stem,
        "unit": UNIT,
        "source": document.get("source"),
        "updated": updated.isoformat() if isinstance(updated, date) else updated,
        "models": {str(key): to_decimal(entry) for key, entry in models.items()},
    }


def update_pricing_file(
    path: Path | str,
    provider: str,
    imported: Mapping[str, Entry],
    source: str,
    updated: date | str | None = None,
) -> MergeSummary:
    """Merge an import into the table at `path` (created if missing), write it, and summarize.

    `updated` is the date of the data (today when not given).
    """
    path = Path(path)
    existing = read_table(path)["models"] if path.exists() else {}
    summary = summarize_merge(existing, imported)
    when = updated if updated is not None else datetime.now(UTC).date()
    write_table(path, provider, merge_tables(existing, imported), source, when)
    return summary


def run_import(
    kind: str,
    source_file: Path | str,
    pricing_dir: Path | str,
    updated: date | None = None,
    source: str | None = None,
) -> list[str]:
    """Import `source_file` into `pricing_dir`; one human-readable line per price table.

    kind "litellm": LiteLLM's model_prices_and_context_window.json, into anthropic, openai, xai
    and openrouter.yaml. kind "openrouter": the JSON of OpenRouter's GET /api/v1/models, into
    openrouter.yaml. `updated` defaults to the source file's modification date (the day it was
    downloaded). `source` is the text of the tables' `source:` line; it defaults to the price
    list's public address, and names the real origin of a copy saved elsewhere. A provider for
    which the source has no model keeps its file as it is. Raises
    ValueError, with a one-line message, for an unknown kind or an unreadable or wrong-shaped
    source file.
    """
    source_file, pricing_dir = Path(source_file), Path(pricing_dir)
    data = load_json(source_file)
    when = updated or _modification_date(source_file)
    if kind == "litellm":
        _check_litellm_shape(data, source_file)
        return _import_litellm_files(data, pricing_dir, when, source_file, source or LITELLM_SOURCE)
    if kind == "openrouter":
        try:
            _openrouter_models(data)
        except ValueError as error:
            raise ValueError(f"{source_file}: {error}") from None
        imported = import_openrouter(data, direct_model_names(pricing_dir))
        path = pricing_dir / "openrouter.yaml"
        origin = source or OPENROUTER_SOURCE
        return [_update_line(path, "openrouter", imported, origin, when, source_file)]
    raise ValueError(f"unknown price source {kind!r}: expected litellm or openrouter")


def load_json(path: Path) -> Any:
    """The JSON document in `path`; ValueError with a one-line message if unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from error


def direct_model_names(pricing_dir: Path) -> set[str]:
    """The model names of the anthropic, openai and xai tables in `pricing_dir` (missing: none)."""
    names: set[str] = set()
    for provider in DIRECT_PROVIDERS:
        path = pricing_dir / f"{provider}.yaml"
        if path.exists():
            names.update(read_table(path)["models"])
    return names


def _import_litellm_files(
    data: Mapping[str, Any], pricing_dir: Path, when: date, source_file: Path, source: str
) -> list[str]:
    """Update the four tables from LiteLLM's map: direct providers first, then OpenRouter."""
    lines = []
    for provider in DIRECT_PROVIDERS:
        path = pricing_dir / f"{provider}.yaml"
        imported = import_litellm(data, provider)
        lines.append(_update_line(path, provider, imported, source, when, source_file))
    imported = import_litellm(data, "openrouter", direct_model_names(pricing_dir))
    path = pricing_dir / "openrouter.yaml"
    lines.append(_update_line(path, "openrouter", imported, source, when, source_file))
    return lines


def _update_line(
    path: Path,
    provider: str,
    imported: Mapping[str, Entry],
    source: str,
    when: date,
    source_file: Path,
) -> str:
    """Update one table and describe it, or say why it was left alone."""
    if not imported:
        done = "left unchanged" if path.exists() else "not written"
        return f"{path}: {done} ({source_file.name} has no {provider} chat model)"
    return f"{path}: {update_pricing_file(path, provider, imported, source, when)}"


def _check_litellm_shape(data: object, source_file: Path) -> None:
    """ValueError unless `data` looks like LiteLLM's price map."""
    entries = data.values() if isinstance(data, Mapping) else ()
    if not any(isinstance(entry, Mapping) and "litellm_provider" in entry for entry in entries):
        raise ValueError(f"{source_file}: not LiteLLM's price map (no model entry with litellm_provider)")


def _modification_date(path: Path) -> date:
    """The UTC date `path` was last modified."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date()


# --- YAML emitting -------------------------------------------------------------------------------


def _ordered(entry: Mapping[str, Any], first: Iterable[str], last: str | None = None) -> Entry:
    """`entry` with the `first` fields in that order, then the others sorted, then `last`."""
    first = list(first)
    rest = sorted(key for key in entry if key not in first and key != last)
    keys = [key for key in first if key in entry] + rest
    if last is not None and last in entry:
        keys.append(last)
    return {key: entry[key] for key in keys}


def _mapping_lines(mapping: Mapping[str, Any], indent: int) -> list[str]:
    """Block-style YAML lines of a mapping at `indent` spaces."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        head = f"{pad}{_scalar(str(key))}:"
        if isinstance(value, Mapping) and value:
            lines += [head, *_mapping_lines(value, indent + 2)]
        elif isinstance(value, list) and value:
            lines += [head, *_sequence_lines(value, indent + 2)]
        else:
            lines.append(f"{head} {_scalar(value)}")
    return lines


def _sequence_lines(items: list[Any], indent: int) -> list[str]:
    """Block-style YAML lines of a sequence; mappings start on the `- ` line."""
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if isinstance(item, Mapping) and item:
            first, *rest = _mapping_lines(_ordered(item, TIER_FIELDS), indent + 2)
            lines += [f"{pad}- {first.lstrip()}", *rest]
        elif isinstance(item, list) and item:
            first, *rest = _sequence_lines(item, indent + 2)
            lines += [f"{pad}- {first.lstrip()}", *rest]
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines


_SCALARS: Final[dict[type, Callable[[Any], str]]] = {
    bool: lambda value: "true" if value else "false",
    int: str,
    Decimal: format_price,
    float: lambda value: format_price(Decimal(repr(value))),
}


def _scalar(value: object) -> str:
    """One YAML scalar: plain when it reads back as the same string, else JSON-quoted."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, date):
        return value.isoformat()
    render = _SCALARS.get(type(value))
    if render is not None:
        return render(value)
    text = str(value)
    if _PLAIN_STRING.match(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _is_iso_date(text: str) -> bool:
    """Whether `text` is a YYYY-MM-DD date (written unquoted, as YAML reads it as a date)."""
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _one_line(error: Exception) -> str:
    """An exception's message folded onto one line."""
    return " ".join(str(error).split())
