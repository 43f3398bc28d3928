"""ekai.yaml and the price tables, loaded into one frozen snapshot.

The config is a value, not a service: `load_config(path)` reads and validates everything (the
YAML file, every pricing file, the provider keys from the environment) and returns a `Config`.
A request takes the snapshot once at its start, so a live reload never changes a request midway.
Validation collects every problem before failing; each names the file, the line and the key
(`ekai.yaml:12: routing.pins: ...`), so a broken edit can be fixed without guessing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway import envfile
from gateway.database import Database
from gateway.dialects import DEFAULT_DIALECT, DIALECTS, Dialect
from gateway.limits import Budget, KeyPolicy, parse_budget, parse_key
from gateway.pricing import Price, PriceEntry, Rates, Tier, price_version

ProviderFormat = Literal["openai", "anthropic", "responses"]
PROVIDER_FORMATS = ("openai", "anthropic", "responses")
Path_ = tuple[str | int, ...]

DEFAULT_PROVIDERS: dict[str, dict[str, Any]] = {
    "anthropic": {
        "format": "anthropic",
        "base_url": "https://api.anthropic.com",
        "api_key_env": "ANTHROPIC_API_KEY",
        "dialect": "anthropic",
    },
    "openai": {
        "format": "openai",
        "base_url": "https://api.openai.com/v1",
        "api_key_env": "OPENAI_API_KEY",
        "dialect": "openai",
        "responses": True,
    },
    "xai": {
        "format": "openai",
        "base_url": "https://api.x.ai/v1",
        "api_key_env": "XAI_API_KEY",
        "dialect": "xai",
        "responses": True,
    },
    "openrouter": {
        "format": "openai",
        "base_url": "https://openrouter.ai/api/v1",
        "api_key_env": "OPENROUTER_API_KEY",
        "dialect": "openrouter",
        "responses": True,
    },
}
DEFAULT_PINS: dict[str, list[str]] = {"grok-*": ["xai"]}


class ConfigError(Exception):
    """The config is invalid. `problems` holds one `file:line: key: message` string each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Provider:
    name: str
    format: ProviderFormat
    base_url: str
    api_key_env: str | None
    api_key: str | None = field(default=None, repr=False)  # never printed, never logged
    headers: Mapping[str, str] = field(default_factory=dict)
    dialect: str = DEFAULT_DIALECT  # gateway.dialects: the provider's quirks, as data
    responses: bool = False  # also serves the Responses API at {base_url}/responses

    @property
    def quirks(self) -> Dialect:
        return DIALECTS[self.dialect]

    @property
    def usable(self) -> bool:
        """Has its key, or needs none."""
        return self.api_key_env is None or bool(self.api_key)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_byte`: until upstream headers; `idle`: between body chunks."""

    connect: float = 10.0
    first_byte: float = 300.0
    idle: float = 300.0
    total: float = 1800.0


@dataclass(frozen=True)
class Config:
    path: Path
    host: str
    port: int
    database: Database  # a SQLite file or a PostgreSQL URL (gateway.database)
    max_backlog: int  # usage rows waiting for the database, at most (gateway.usage: oldest dropped past it)
    providers: Mapping[str, Provider]  # in tie-break order
    aliases: Mapping[str, str]
    pins: tuple[tuple[str, tuple[str, ...]], ...]
    fallback: bool
    strategy: str
    prices: Mapping[str, Mapping[str, PriceEntry]]  # provider -> model name -> entry
    price_ids: Mapping[str, Mapping[str, PriceEntry]]  # provider -> provider model id -> entry
    auth_keys: Mapping[str, str] = field(default_factory=dict, repr=False)  # key value -> name
    auth_envs: Mapping[str, str] = field(default_factory=dict)  # name -> env var
    key_policies: Mapping[str, KeyPolicy] = field(default_factory=dict)  # name -> limits (gateway.limits)
    gateway_budget: Budget | None = None  # auth.budget: every key and no key together
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_body_bytes: int = 32 * 1024 * 1024
    conversation_retention_days: float = 30  # conversations.retention_days; 0 stores nothing
    pricing_files: tuple[Path, ...] = ()
    digest: str = ""
    loaded_at: float = 0.0
    env_fingerprint: str = field(default="", compare=False, repr=False)  # of .env (envfile.read)
    access_log: bool = True  # server.access_log: one line per proxied request (gateway.accesslog)
    log_format: str = "text"  # server.log_format: text or json
    otlp_endpoint: str | None = None  # telemetry.otlp_endpoint: OTLP/HTTP traces (gateway.tracing)
    # routing.resolve's memo of (model, forced provider) -> Route; lives and dies with the snapshot
    routes: dict[tuple[str, str | None], Any] = field(default_factory=dict, compare=False, repr=False)

    # whether any budget, rate limit or allowlist applies: the hot path's one test (set below)
    limited: bool = field(init=False, default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limited", bool(self.key_policies) or self.gateway_budget is not None)

    @property
    def watched_files(self) -> tuple[Path, ...]:
        return (self.path, *self.pricing_files, envfile.env_path(self.path))


# --- YAML with line numbers -------------------------------------------------------------------


class _Doc:
    """A parsed YAML file that can say on which line a key sits."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.name = path.name
        self.lines: dict[Path_, int] = {}
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            self._index(node, ())
        self.data: Any = yaml.safe_load(text)

    def _index(self, node: yaml.Node, at: Path_) -> None:
        self.lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                self.lines[(*at, key)] = key_node.start_mark.line + 1
                self._index(value_node, (*at, key))
                self.lines[(*at, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*at, i))

    def where(self, at: Path_) -> str:
        probe = at
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        key = ".".join(str(p) for p in at) or "(top level)"
        return f"{self.name}:{line}: {key}"


def _read_doc(path: Path, problems: list[str]) -> _Doc | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{path.name}:1: (file): not found at {path}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name}:1: (file): cannot read: {exc}")
        return None
    try:
        return _Doc(path, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        problems.append(f"{path.name}:{line}: (yaml): {exc.problem or exc}")
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}:1: (yaml): {exc}")
    return None


@dataclass(frozen=True)
class AuthSection:
    """ekai.yaml's `auth` section alone: keys (in the file's order) with their policies, the
    gateway budget, and the problems found, as `ekai check` words them."""

    keys: tuple[tuple[str, KeyPolicy | None], ...] = ()
    gateway_budget: Budget | None = None
    problems: tuple[str, ...] = ()
    read: bool = False  # the file was read and parsed


def read_auth(path: Path) -> AuthSection:
    """The `auth` section of `path`, without providers, prices or the environment: for readers
    that need only the keys and their budgets (the dashboard, analytics.budgets)."""
    problems: list[str] = []
    doc = _read_doc(Path(path), problems)
    if doc is None:
        return AuthSection(problems=tuple(problems))
    c = _Checker(doc, problems)
    root = doc.data if isinstance(doc.data, dict) else {}
    auth = c.mapping(root.get("auth"), ("auth",))
    gateway = parse_budget(c, auth.get("budget"), ("auth", "budget"))
    keys = [
        (str(name), parse_key(c, str(name), spec, ("auth", "keys", name))[1])
        for name, spec in c.mapping(auth.get("keys"), ("auth", "keys")).items()
    ]
    return AuthSection(tuple(keys), gateway, tuple(problems), read=True)


# --- validation helpers -----------------------------------------------------------------------


class _Checker:
    def __init__(self, doc: _Doc, problems: list[str]) -> None:
        self.doc = doc
        self.problems = problems

    def fail(self, at: Path_, message: str) -> None:
        self.problems.append(f"{self.doc.where(at)}: {message}")

    def mapping(self, value: Any, at: Path_, *, optional: bool = True) -> dict[str, Any]:
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            self.fail(at, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def keys(self, value: dict[str, Any], at: Path_, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail((*at, key), f"unknown key (known: {known})")

    def string(self, value: Any, at: Path_) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(at, "must be a non-empty string")
            return None
        return value

    def number(self, value: Any, at: Path_, *, minimum: float = 0) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(at, "must be a number")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(at, f"must be a number, got {value!r}")
            return None
        if not number.is_finite() or number < Decimal(str(minimum)):
            self.fail(at, f"must be a number >= {minimum}")
            return None
        return number


# --- ekai.yaml --------------------------------------------------------------------------------

_TOP_KEYS = {
    "server",
    "auth",
    "usage",
    "pricing",
    "providers",
    "aliases",
    "routing",
    "telemetry",
    "conversations",
}


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ekai.yaml and its price tables. Raises ConfigError listing every problem."""
    path = Path(path).resolve()
    env_fingerprint = ""
    if env is None:  # the process environment, and .env for what it lacks
        env, env_fingerprint = envfile.effective_env(path)
    problems: list[str] = []
    doc = _read_doc(path, problems)
    if doc is None:
        raise ConfigError(problems)
    c = _Checker(doc, problems)
    root = c.mapping(doc.data, (), optional=True)
    c.keys(root, (), _TOP_KEYS)
    folder = path.parent

    server = c.mapping(root.get("server"), ("server",))
    c.keys(server, ("server",), {"host", "port", "timeouts", "max_body_mb", "access_log", "log_format"})
    host = c.string(server.get("host", "127.0.0.1"), ("server", "host")) or "127.0.0.1"
    port = server.get("port", 3001)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        c.fail(("server", "port"), "must be an integer from 1 to 65535")
        port = 3001
    timeouts = _timeouts(c, server.get("timeouts"))
    max_body_mb = c.number(server.get("max_body_mb", 32), ("server", "max_body_mb")) or Decimal(32)
    access_log, log_format, otlp_endpoint = _observability(c, server, root.get("telemetry"))

    auth = c.mapping(root.get("auth"), ("auth",))
    c.keys(auth, ("auth",), {"keys", "budget"})
    auth_envs: dict[str, str] = {}
    auth_keys: dict[str, str] = {}
    key_policies: dict[str, KeyPolicy] = {}
    gateway_budget = parse_budget(c, auth.get("budget"), ("auth", "budget"))
    for name, var in c.mapping(auth.get("keys"), ("auth", "keys")).items():
        var_name, policy = parse_key(c, str(name), var, ("auth", "keys", name))
        if policy is not None:
            key_policies[str(name)] = policy
        if var_name is None:
            continue
        auth_envs[str(name)] = var_name
        value = env.get(var_name, "")
        if value:
            auth_keys[value] = str(name)

    usage = c.mapping(root.get("usage"), ("usage",))
    c.keys(usage, ("usage",), {"database", "max_backlog"})
    backlog = c.number(usage.get("max_backlog", 50_000), ("usage", "max_backlog"), minimum=1)
    max_backlog = int(backlog) if backlog is not None and backlog == int(backlog) else 50_000
    if backlog is not None and backlog != int(backlog):
        c.fail(("usage", "max_backlog"), "must be a whole number of rows")
    db_name = c.string(usage.get("database", "usage.db"), ("usage", "database")) or "usage.db"
    try:
        database = Database.parse(db_name, folder)
    except ValueError as exc:
        c.fail(("usage", "database"), f"not a usable database: {exc}")
        database = Database.sqlite(folder / "usage.db")

    conversations = c.mapping(root.get("conversations"), ("conversations",))
    c.keys(conversations, ("conversations",), {"retention_days"})
    retention = c.number(conversations.get("retention_days", 30), ("conversations", "retention_days"))
    retention_days = float(retention) if retention is not None else 30.0

    providers = _providers(c, root.get("providers"), env)

    aliases: dict[str, str] = {}
    for alias, target in c.mapping(root.get("aliases"), ("aliases",)).items():
        model = c.string(target, ("aliases", alias))
        if model is not None:
            aliases[str(alias)] = model

    routing = c.mapping(root.get("routing"), ("routing",))
    c.keys(routing, ("routing",), {"strategy", "pins", "fallback"})
    strategy = routing.get("strategy", "cheapest")
    if strategy not in ("cheapest", "ordered"):
        c.fail(("routing", "strategy"), "must be 'cheapest' or 'ordered'")
        strategy = "cheapest"
    fallback = routing.get("fallback", True)
    if not isinstance(fallback, bool):
        c.fail(("routing", "fallback"), "must be true or false")
        fallback = True
    pins_raw = routing.get("pins", DEFAULT_PINS)
    pins: list[tuple[str, tuple[str, ...]]] = []
    for pattern, names in c.mapping(pins_raw, ("routing", "pins")).items():
        at: Path_ = ("routing", "pins", pattern)
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            c.fail(at, "must be a list of provider names")
            continue
        for i, name in enumerate(names):
            if name not in providers:
                c.fail((*at, i), f"unknown provider {name!r} (known: {', '.join(providers)})")
        pins.append((str(pattern), tuple(names)))

    pricing = c.mapping(root.get("pricing"), ("pricing",))
    c.keys(pricing, ("pricing",), {"files"})
    patterns = pricing.get("files", ["pricing/*.yaml"])
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        c.fail(("pricing", "files"), "must be a list of file paths or globs")
        patterns = []
    pricing_files = _expand(folder, patterns)
    prices, price_ids = _load_prices(pricing_files, providers, problems)

    for alias, target in aliases.items():
        if alias == target:
            c.fail(("aliases", alias), "an alias cannot name itself")

    if problems:
        raise ConfigError(problems)
    digest = hashlib.sha256()
    for file in (path, *pricing_files):
        digest.update(file.read_bytes())
    return Config(
        path=path,
        host=host,
        port=port,
        database=database,
        max_backlog=max_backlog,
        providers=providers,
        aliases=aliases,
        pins=tuple(pins),
        fallback=fallback,
        strategy=strategy,
        prices=prices,
        price_ids=price_ids,
        auth_keys=auth_keys,
        auth_envs=auth_envs,
        key_policies=key_policies,
        gateway_budget=gateway_budget,
        timeouts=timeouts,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        conversation_retention_days=retention_days,
        pricing_files=tuple(pricing_files),
        digest=digest.hexdigest()[:16],
        loaded_at=time.time(),
        env_fingerprint=env_fingerprint,
        access_log=access_log,
        log_format=log_format,
        otlp_endpoint=otlp_endpoint,
    )


def _observability(c: _Checker, server: dict[str, Any], raw_telemetry: Any) -> tuple[bool, str, str | None]:
    """server.access_log, server.log_format and telemetry.otlp_endpoint."""
    access_log = server.get("access_log", True)
    if not isinstance(access_log, bool):
        c.fail(("server", "access_log"), "must be true or false")
        access_log = True
    log_format = server.get("log_format", "text")
    if log_format not in ("text", "json"):
        c.fail(("server", "log_format"), "must be 'text' or 'json'")
        log_format = "text"
    telemetry = c.mapping(raw_telemetry, ("telemetry",))
    c.keys(telemetry, ("telemetry",), {"otlp_endpoint"})
    endpoint = telemetry.get("otlp_endpoint")
    if endpoint is not None:
        at: Path_ = ("telemetry", "otlp_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            c.fail(at, "must be an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318), or null")
            endpoint = None
        else:
            endpoint = endpoint.rstrip("/")
    return access_log, log_format, endpoint


def _timeouts(c: _Checker, raw: Any) -> Timeouts:
    at: Path_ = ("server", "timeouts")
    values = c.mapping(raw, at)
    c.keys(values, at, {"connect", "first_byte", "idle", "total"})
    defaults = Timeouts()
    parsed: dict[str, float] = {}
    for key in ("connect", "first_byte", "idle", "total"):
        if key in values:
            number = c.number(values[key], (*at, key), minimum=0.001)
            if number is not None:
                parsed[key] = float(number)
    return Timeouts(**{**defaults.__dict__, **parsed})


def _providers(c: _Checker, raw: Any, env: Mapping[str, str]) -> dict[str, Provider]:
    given = c.mapping(raw, ("providers",))
    merged: dict[str, Any] = {}
    for name, spec in given.items():  # the user's order first: it decides ties
        merged[str(name)] = spec
    for name, spec in DEFAULT_PROVIDERS.items():
        if name not in merged:
            merged[name] = spec
        elif isinstance(merged[name], dict):
            merged[name] = {**spec, **merged[name]}
    result: dict[str, Provider] = {}
    for name, spec in merged.items():
        at: Path_ = ("providers", name)
        if spec is None or spec is False:  # `name: null` removes a default provider
            continue
        values = c.mapping(spec, at, optional=False)
        if not values:
            continue
        c.keys(values, at, {"format", "base_url", "api_key_env", "headers", "dialect", "responses"})
        fmt = values.get("format")
        if fmt not in PROVIDER_FORMATS:
            c.fail((*at, "format"), "must be 'openai', 'anthropic' or 'responses'")
            continue
        dialect = values.get("dialect", "anthropic" if fmt == "anthropic" else DEFAULT_DIALECT)
        if dialect not in DIALECTS or (dialect == "anthropic") != (fmt == "anthropic"):
            allowed = (
                "anthropic" if fmt == "anthropic" else ", ".join(d for d in DIALECTS if d != "anthropic")
            )
            c.fail((*at, "dialect"), f"must be one of: {allowed} (got {dialect!r})")
            continue
        responses = values.get("responses", fmt == "responses")
        if not isinstance(responses, bool):
            c.fail((*at, "responses"), "must be true or false")
            continue
        if responses and fmt == "anthropic":
            c.fail((*at, "responses"), "an Anthropic-format provider does not serve the Responses API")
            continue
        base_url = c.string(values.get("base_url"), (*at, "base_url"))
        if base_url is None:
            continue
        if not base_url.startswith(("http://", "https://")):
            c.fail((*at, "base_url"), "must start with http:// or https://")
            continue
        key_env = values.get("api_key_env")
        if key_env is not None and c.string(key_env, (*at, "api_key_env")) is None:
            continue
        headers = c.mapping(values.get("headers"), (*at, "headers"))
        result[name] = Provider(
            name=name,
            format=fmt,
            base_url=base_url.rstrip("/"),
            api_key_env=key_env,
            api_key=env.get(key_env) or None if key_env else None,
            headers={str(k): str(v) for k, v in headers.items()},
            dialect=dialect,
            responses=responses or fmt == "responses",
        )
    return result


def _expand(folder: Path, patterns: list[str]) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(folder / pattern)
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        for match in matches:
            p = Path(match).resolve()
            if p not in files:
                files.append(p)
    return files


# --- price tables -----------------------------------------------------------------------------

# No real model costs less than $0.0005 per million tokens; a smaller non-zero number is almost
# surely a per-token price pasted into a per-million table (a 1,000,000x error, Bifrost #5243).
PER_TOKEN_SUSPICION = Decimal("0.0005")
_RATE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_ENTRY_KEYS = {*_RATE_KEYS, "id", "tiers", "user", "note", "format", "context_window"}


def _load_prices(
    files: list[Path], providers: Mapping[str, Provider], problems: list[str]
) -> tuple[dict[str, dict[str, PriceEntry]], dict[str, dict[str, PriceEntry]]]:
    prices: dict[str, dict[str, PriceEntry]] = {}
    for file in files:
        doc = _read_doc(file, problems)
        if doc is None:
            continue
        c = _Checker(doc, problems)
        root = c.mapping(doc.data, ())
        c.keys(root, (), {"provider", "unit", "models", "source", "updated"})
        provider = c.string(root.get("provider"), ("provider",))
        if root.get("unit") != "usd_per_million_tokens":
            c.fail(("unit",), "must be usd_per_million_tokens (prices per 1M tokens, not per token)")
        if provider is None:
            continue
        if provider not in providers:
            continue  # a table for a provider this config does not use (or removed): ignored
        table = prices.setdefault(provider, {})
        for model, spec in c.mapping(root.get("models"), ("models",)).items():
            entry = _price_entry(c, provider, str(model), spec)
            if entry is not None and entry.responses_only and providers[provider].format == "anthropic":
                c.fail(
                    ("models", str(model), "format"),
                    f"{provider} speaks Anthropic Messages, not the Responses API",
                )
                continue
            if entry is not None:
                table[entry.model] = entry
    ids: dict[str, dict[str, PriceEntry]] = {
        provider: {entry.id: entry for entry in table.values()} for provider, table in prices.items()
    }
    return prices, ids


def _rates(c: _Checker, spec: dict[str, Any], at: Path_) -> Rates | None:
    values: dict[str, Decimal | None] = {}
    ok = True
    for key in _RATE_KEYS:
        if key in spec and spec[key] is not None:
            number = c.number(spec[key], (*at, key))
            if number is not None and 0 < number < PER_TOKEN_SUSPICION:
                c.fail(
                    (*at, key),
                    f"{number} looks like a price per token; prices are USD per 1M tokens "
                    f"(e.g. 3.0, not 0.000003)",
                )
                number = None
            ok = ok and number is not None
            values[key] = number
        elif key in ("input", "output"):
            c.fail((*at, key), "is required (USD per 1M tokens)")
            ok = False
    if not ok:
        return None
    return Rates(
        input=values["input"] or Decimal(0),
        output=values["output"] or Decimal(0),
        cache_read=values.get("cache_read"),
        cache_write=values.get("cache_write"),
        cache_write_1h=values.get("cache_write_1h"),
    )


def _price_entry(c: _Checker, provider: str, model: str, spec: Any) -> PriceEntry | None:
    at: Path_ = ("models", model)
    values = c.mapping(spec, at, optional=False)
    if not values:
        return None
    c.keys(values, at, _ENTRY_KEYS)
    base = _rates(c, values, at)
    tiers: list[Tier] = []
    raw_tiers = values.get("tiers") or []
    if not isinstance(raw_tiers, list):
        c.fail((*at, "tiers"), "must be a list")
        raw_tiers = []
    for i, raw in enumerate(raw_tiers):
        tier_at: Path_ = (*at, "tiers", i)
        tier = c.mapping(raw, tier_at, optional=False)
        if not tier:
            continue
        c.keys(tier, tier_at, {*_RATE_KEYS, "above_input_tokens"})
        threshold = tier.get("above_input_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            c.fail((*tier_at, "above_input_tokens"), "must be a whole number of tokens")
            continue
        merged = {k: values.get(k) for k in _RATE_KEYS} | tier
        rates = _rates(c, merged, tier_at)
        if rates is not None:
            tiers.append(Tier(threshold, rates))
    model_id = values.get("id", model)
    if not isinstance(model_id, str) or not model_id:
        c.fail((*at, "id"), "must be a non-empty string")
        return None
    wire = values.get("format")
    if wire is not None and wire != "responses":
        c.fail(
            (*at, "format"),
            "the only model-level format is 'responses' (served only through the Responses API)",
        )
        return None
    window = values.get("context_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
        c.fail((*at, "context_window"), "must be a whole number of tokens above 0")
        window = None
    if base is None:
        return None
    return PriceEntry(
        provider=provider,
        model=model,
        id=model_id,
        price=Price(base=base, tiers=tuple(tiers), version=price_version(provider, model, values)),
        file=c.doc.name,
        line=c.doc.lines.get(at, 0),
        user=bool(values.get("user", False)),
        responses_only=wire == "responses",
        context_window=window,
    )
