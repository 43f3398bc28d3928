"""`ekai`: the command line. Parsing and printing only; the work is done by the modules it calls.

    ekai serve  [--config PATH] [--host H] [--port P] [--workers N]
    ekai check  [--config PATH]
    ekai sql    "QUERY" [--config PATH | --db PATH] [--format table|csv|json] [--schema]
    ekai prices [MODEL] [--config PATH]
    ekai prices import {litellm,openrouter} FILE [--config PATH]
    ekai conversations {list,show,delete} [ID] [--config PATH] [--key NAME]

User errors print one line to stderr and exit 1 (never a traceback).
"""

from __future__ import annotations

import argparse
import atexit
import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from gateway import envfile
from gateway.config import Config, ConfigError, load_config


def _config_path(explicit: str | None) -> Path:
    from gateway.app import config_path

    return config_path(explicit)


def _load(explicit: str | None) -> Config:
    path = _config_path(explicit)
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"ekai: invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _prepare_metrics_dir() -> None:
    """prometheus-client's multiprocess folder (gateway.metrics), set before anything imports it:
    a fresh temporary folder per server run, removed at exit; or the folder the user named in
    PROMETHEUS_MULTIPROC_DIR, emptied of the last run's files. Every worker inherits it."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink(missing_ok=True)
        return
    made = tempfile.mkdtemp(prefix="ekai-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    atexit.register(shutil.rmtree, made, True)


def _access_log(cfg: Config) -> str:
    return f"on stderr ({cfg.log_format})" if cfg.access_log else "off"


def cmd_serve(args: argparse.Namespace) -> int:
    _prepare_metrics_dir()  # before gateway.app (and so prometheus_client) is imported
    cfg = _load(args.config)
    host = args.host or cfg.host
    port = args.port or cfg.port
    if not _is_loopback(host) and not cfg.auth_keys and not args.allow_open:
        print(
            f"ekai: refusing to listen on {host} without gateway keys: anyone who can reach it "
            "could spend your provider credit. Set auth.keys in the config (and their "
            "environment variables), or pass --allow-open if you really mean it.",
            file=sys.stderr,
        )
        return 1
    ready = [p.name for p in cfg.providers.values() if p.usable]
    missing = [f"{p.name} (set {p.api_key_env})" for p in cfg.providers.values() if not p.usable]
    print(f"ekai: listening on http://{host}:{port}  (config {cfg.path})")
    print(f"ekai: providers ready: {', '.join(ready) or 'none'}")
    if missing:
        print(f"ekai: providers without a key: {', '.join(missing)}")
        print(f"ekai: set a key in the environment or in {cfg.path.parent / '.env'} (read live, no restart)")
    from_file = envfile.names_from_file(cfg.path)
    if from_file:
        print(f"ekai: from {cfg.path.parent / envfile.NAME}: {', '.join(from_file)}")  # names, never values
    print(f"ekai: usage database: {cfg.database}")
    print(f"ekai: metrics at http://{host}:{port}/metrics; access log {_access_log(cfg)}; traces "
          f"{'to ' + cfg.otlp_endpoint if cfg.otlp_endpoint else 'off (telemetry.otlp_endpoint)'}")
    sys.stdout.flush()
    from gateway.storage import check

    problem = check(cfg.database)  # a wrong URL or password fails now, in one line (gateway.storage)
    if problem:
        print(f"ekai: {problem}", file=sys.stderr)
        return 1

    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from gateway.app import create_app

    os.environ["EKAI_CONFIG"] = str(cfg.path)  # spawned workers build their app from it
    loader = AppLoader(factory=partial(create_app, str(cfg.path)))
    app = loader.load()
    workers = max(1, args.workers)
    app.prepare(
        host=host,
        port=port,
        workers=workers,
        single_process=workers == 1,
        access_log=False,  # ekai's own access log (gateway.accesslog, server.access_log) replaces Sanic's
        motd=False,
        backlog=1024,  # Sanic's 100 overflows on a burst of new connections (SYN retries of 1 s)
    )
    if workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


def _money(value: object) -> str:
    return "-" if value is None else f"{value:g}"


def cmd_check(args: argparse.Namespace) -> int:
    from gateway.limits import describe
    from gateway.routing import routing_table

    cfg = _load(args.config)
    print(f"{cfg.path}: valid (digest {cfg.digest})")
    files = ", ".join(p.name for p in cfg.pricing_files) or "none"
    print(f"price tables: {files}")
    for p in cfg.providers.values():
        state = "ready" if p.usable else f"no key (set {p.api_key_env})"
        wire = f"{p.format}+responses" if p.responses and p.format == "openai" else p.format
        print(f"provider {p.name:<12} {wire:<16} {p.dialect:<10} {p.base_url}  {state}")
    print()
    rows = routing_table(cfg)
    width = max((len(m) for m, _, _ in rows), default=5)
    print(f"{'model':<{width}}  providers in try order (input/output/cache read/cache write per 1M)")
    for model, targets, keyless in rows:
        if not targets and not args.all:
            continue
        tried = []
        for t in targets:
            if t.price:
                r = t.price.price.base
                tried.append(
                    f"{t.provider.name}[{_money(r.input)}/{_money(r.output)}/"
                    f"{_money(r.cache_read)}/{_money(r.cache_write)}]"
                )
            else:
                tried.append(f"{t.provider.name}[unpriced]")
        shown = " > ".join(tried) if tried else "(no provider with a key)"
        if keyless and args.all:
            shown += f"   without key: {', '.join(keyless)}"
        alias = f" -> {cfg.aliases[model]}" if model in cfg.aliases else ""
        print(f"{model + alias:<{width}}  {shown}")
    if not any(t for _, t, _ in rows):
        print("(no model is routable: no provider has its API key set; `ekai check --all` lists them)")
    for line in describe(cfg.auth_envs, cfg.key_policies, cfg.gateway_budget):  # gateway.limits
        print(line)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from analytics import duck, sql

    db = duck.resolve_database(args.db or None, _config_path(args.config))  # a file or a postgresql:// URL
    if not args.schema and not args.query:
        print("ekai sql: give a QUERY (or --schema)", file=sys.stderr)
        return 1
    return sql.run(args.query, db=db, fmt=args.format, schema=args.schema)


def cmd_usage_copy(args: argparse.Namespace) -> int:
    """`ekai usage copy --from usage.db --to postgresql://...`: one summary line."""
    import sqlite3

    from gateway.conversations.copy import copy_conversations
    from gateway.database import Database
    from gateway.storage import READ_ERRORS, StorageUnavailable, copy_usage

    here = Path.cwd()
    try:
        source = Database.parse(args.source, here)
        target = Database.parse(args.target, here)
    except ValueError as exc:
        print(f"ekai usage copy: {exc}", file=sys.stderr)
        return 1
    if not source.is_postgres and not source.file.is_file():
        print(f"ekai usage copy: no usage database at {source}", file=sys.stderr)
        return 1
    if str(source) == str(target):
        print("ekai usage copy: --from and --to are the same database", file=sys.stderr)
        return 1
    errors: tuple[type[BaseException], ...] = (StorageUnavailable, OSError, *READ_ERRORS)
    try:
        read, added = copy_usage(source, target)
        stored = copy_conversations(source, target)  # conversations and stored responses move too
    except errors as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, sqlite3.Error | OSError):
            line = f"{type(exc).__name__}: {line}"
        print(f"ekai usage copy: {line}", file=sys.stderr)
        return 1
    print(f"ekai usage copy: {read} rows read from {source}, {added} copied to {target}, "
          f"{read - added} already there")
    if any(n for n, _ in stored.values()):
        print("ekai usage copy: " + ", ".join(
            f"{table}: {n} read, {new} copied" for table, (n, new) in stored.items()
        ))
    return 0


def cmd_prices(args: argparse.Namespace) -> int:
    if args.action == "import":
        from gateway import price_import

        path = _config_path(args.config)
        pricing_dir = path.parent / "pricing"
        try:
            for line in price_import.run_import(args.kind, Path(args.file), pricing_dir):
                print(line)
        except (ValueError, OSError) as exc:
            print(f"ekai prices import: {exc}", file=sys.stderr)
            return 1
        return 0
    cfg = _load(args.config)
    wanted = args.action  # a model name, or None for all
    print(
        f"{'provider':<11} {'model':<40} {'id':<40} {'input':>8} {'output':>8} {'c.read':>8} "
        f"{'c.write':>8} {'c.w.1h':>8}  tiers"
    )
    for provider, table in cfg.prices.items():
        for model, entry in sorted(table.items()):
            if wanted and wanted not in (model, entry.id, cfg.aliases.get(wanted)):
                continue
            r = entry.price.base
            tiers = "; ".join(
                f">{t.above_input_tokens}: {_money(t.rates.input)}/{_money(t.rates.output)}"
                for t in entry.price.tiers
            )
            mark = " (user)" if entry.user else ""
            print(
                f"{provider:<11} {model:<40} {entry.id:<40} {_money(r.input):>8} "
                f"{_money(r.output):>8} {_money(r.cache_read):>8} {_money(r.cache_write):>8} "
                f"{_money(r.cache_write_1h):>8}  {tiers}{mark}"
            )
    return 0


def cmd_conversations(args: argparse.Namespace) -> int:
    from gateway.conversations import cli as conversations_cli
    from gateway.db import database_from_config

    database = database_from_config(_config_path(args.config))  # a file or a postgresql:// URL
    return conversations_cli.run(args.action, args.id, database, args.key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ekai", description="A self-hosted LLM gateway.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="config file (default: $EKAI_CONFIG, else ./ekai.yaml)")
    serve.add_argument("--host", help="listen address (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port, 3001)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(  # kept so existing scripts still start; the log is server.access_log now
        "--access-log", action="store_true", help=argparse.SUPPRESS
    )
    serve.add_argument(
        "--allow-open",
        action="store_true",
        help="allow a non-loopback host without gateway keys",
    )
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate the config and print the routing table")
    check.add_argument("--config")
    check.add_argument("--all", action="store_true", help="also list models no provider can serve now")
    check.set_defaults(func=cmd_check)

    sql = sub.add_parser("sql", help="run SQL over the usage table (DuckDB)")
    sql.add_argument("query", nargs="?")
    source = sql.add_mutually_exclusive_group()
    source.add_argument("--config")
    source.add_argument("--db", help="the usage database: a file or a postgresql:// URL")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--schema", action="store_true", help="print the usage table's columns")
    sql.set_defaults(func=cmd_sql)

    usage = sub.add_parser("usage", help="usage table tools: copy (SQLite -> PostgreSQL)")
    usage_sub = usage.add_subparsers(dest="action", required=True)
    copy = usage_sub.add_parser(
        "copy", help="copy every usage row into another database, once (idempotent by request_id)"
    )
    copy.add_argument("--from", dest="source", required=True, help="a usage.db file or a postgresql:// URL")
    copy.add_argument("--to", dest="target", required=True, help="a postgresql:// URL or a file")
    copy.set_defaults(func=cmd_usage_copy)

    prices = sub.add_parser("prices", help="show the effective price table, or import prices")
    prices.add_argument("action", nargs="?", help="a model name to show, or 'import'")
    prices.add_argument("kind", nargs="?", choices=["litellm", "openrouter"])
    prices.add_argument("file", nargs="?")
    prices.add_argument("--config")
    prices.set_defaults(func=cmd_prices)

    conv = sub.add_parser("conversations", help="list, show or delete stored conversations")
    conv.add_argument("action", choices=["list", "show", "delete"])
    conv.add_argument("id", nargs="?", help="the conversation id (show, delete)")
    conv.add_argument("--config")
    conv.add_argument("--key", help="list: only this gateway key's conversations")
    conv.set_defaults(func=cmd_conversations)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "prices" and args.action == "import" and not (args.kind and args.file):
        parser.error("usage: ekai prices import {litellm,openrouter} FILE")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
