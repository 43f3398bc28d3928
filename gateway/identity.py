"""Who asked: the client program, its session, its sub-agent and the user's tags, from headers.

Pure functions over the request headers; `identify` is what the proxy calls once per request.

client, client_version (from User-Agent; memoised, clients repeat theirs on every request):
    claude-cli/2.1.332 (external, sdk-cli)        -> claude-code      2.1.332
    codex_exec/0.171.0 (Debian 12; x86_64) ...    -> codex            0.171.0   (codex_cli_rs,
                                                                               any codex_* too)
    OpenAI/Python 3.63.0, AsyncOpenAI/Python ...  -> openai-python    3.63.0
    Anthropic/Python 2.17.0, AsyncAnthropic/...   -> anthropic-python 2.17.0
    OpenAI/JS 6.1.0                               -> openai-node      6.1.0
    Anthropic/JS 0.71.0                           -> anthropic-node   0.71.0
    curl/8.5.0                                    -> curl             8.5.0
    Other SDKs of the same make (`<Class>/Python <version>`, `<Class>/JS <version>`) follow the
    pattern: Groq/JS 0.9.0 -> groq-node 0.9.0, AsyncCerebras/Python 1.0 -> cerebras-python 1.0.
    anything else: its first product token `name/version`, the name lower-cased
    (python-httpx/0.28.1 -> python-httpx 0.28.1; Mozilla/5.0 ... -> mozilla 5.0; a token without
    `/` gives the name and no version). No User-Agent (or an empty one): NULL, NULL.
    Names keep only [a-z0-9._+-] and at most 64 characters, versions at most 32.

session_id: `x-ekai-session`, else Claude Code's `x-claude-code-session-id`, else Codex's
    `session-id` (or `session_id`). At most 256 characters, no control characters.
agent: Codex's `x-codex-turn-metadata` JSON `agent_name` ("/root" is Codex's main agent), else
    Claude Code's `x-claude-code-agent-id` (sent with CLAUDE_CODE_GATEWAY_HINT_HEADERS=1, by
    sub-agents). At most 256 characters.
tags: `x-ekai-tags: k=v,k2=v2` -> '{"k":"v","k2":"v2"}': a JSON object with SORTED keys (the same
    tags give the same text, so GROUP BY tags works), values as strings. Keys are 1-64 of
    [A-Za-z0-9_.:-]; values any printable text without `,` (may be empty); whitespace around
    keys and values is dropped; a repeated key is an error. The header is at most 1024 characters.

The user's own `x-ekai-*` headers are checked strictly: too long, malformed, non-UTF-8 (Sanic keeps
undecodable bytes as surrogates) or control characters make `Who.problem` a ClientError, which the
proxy answers as a 400 in the client's error shape, after the row has its fields (it is written
with status 400 like any refused request). The client's OWN headers (Claude Code's and Codex's
session and agent headers) are not ours to refuse: an unusable value is ignored (NULL).
None of these headers is forwarded upstream (gateway.providers builds upstream headers from an
allowlist).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import NamedTuple

import orjson
from multidict import istr

from gateway.errors import ClientError

MAX_SESSION = 256
MAX_AGENT = 256
MAX_TAGS = 1024
MAX_TURN_METADATA = 8192

# Header names as istr: Sanic's headers are a case-insensitive multidict, whose lookups skip
# lower-casing the key when it is already an istr (about 90 ns instead of 170-210 ns each).
_UA = istr("user-agent")
_EKAI_SESSION = istr("x-ekai-session")
_EKAI_TAGS = istr("x-ekai-tags")
_CC_SESSION = istr("x-claude-code-session-id")
_CC_AGENT = istr("x-claude-code-agent-id")
_CODEX_SESSION = istr("session-id")
_CODEX_SESSION_ALT = istr("session_id")
_CODEX_TURN = istr("x-codex-turn-metadata")

# Product token (lower-cased) -> client name. SDK user agents are `<Class>/<Lang> <version>`.
_PRODUCTS: dict[str, str] = {
    "claude-cli": "claude-code",
    "codex_exec": "codex",
    "codex_cli_rs": "codex",
    "curl": "curl",
}
_SDK_FAMILIES: dict[str, str] = {  # SDK class name (lower-cased) -> family
    "openai": "openai",
    "asyncopenai": "openai",
    "azureopenai": "openai",
    "asyncazureopenai": "openai",
    "anthropic": "anthropic",
    "asyncanthropic": "anthropic",
    "anthropicbedrock": "anthropic",
    "asyncanthropicbedrock": "anthropic",
    "anthropicvertex": "anthropic",
    "asyncanthropicvertex": "anthropic",
}
_SDK_LANGS: dict[str, str] = {"python": "python", "js": "node"}

_TOKEN = re.compile(r"\s*([^\s/]+)(?:/(\S*))?")
_NAME_UNSAFE = re.compile(r"[^a-z0-9._+\-]")
_TAG_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
# control characters (C0, DEL, C1) and the surrogates Sanic uses for bytes that are not UTF-8
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class Who(NamedTuple):  # a NamedTuple: a frozen dataclass costs ~0.6 us more to build
    client: str | None = None
    client_version: str | None = None
    session_id: str | None = None
    agent: str | None = None
    tags: str | None = None
    problem: ClientError | None = None  # set when an x-ekai-* header is unusable


@functools.lru_cache(maxsize=512)
def parse_user_agent(ua: str | None) -> tuple[str | None, str | None]:
    """(client, client_version) from a User-Agent; see the module docstring for the rule."""
    if not ua:
        return None, None
    m = _TOKEN.match(ua)
    if m is None:
        return None, None
    product, version = m.group(1), m.group(2) or None
    name = product.lower()
    if version is not None and version.lower() in _SDK_LANGS:  # a Stainless SDK: Class/Lang version
        family = _SDK_FAMILIES.get(name) or _NAME_UNSAFE.sub("", name.removeprefix("async"))[:48]
        rest = ua[m.end() :].split(None, 1)
        return f"{family}-{_SDK_LANGS[version.lower()]}", _version(rest[0] if rest else None)
    client = _PRODUCTS.get(name)
    if client is None and name.startswith("codex_"):
        client = "codex"
    if client is None:
        client = _NAME_UNSAFE.sub("", name)[:64] or None
    return client, _version(version)


def _version(text: str | None) -> str | None:
    if not text:
        return None
    text = _BAD_CHARS.sub("", text)[:32]
    return text or None


@functools.lru_cache(maxsize=256)  # clients repeat their tags; errors are not cached
def parse_tags(value: str) -> str:
    """`k=v,k2=v2` -> the JSON object text (sorted keys). Raises ClientError when malformed."""
    if len(value) > MAX_TAGS:
        raise _bad("x-ekai-tags", f"is {len(value)} characters long; at most {MAX_TAGS} are allowed")
    if _BAD_CHARS.search(value):
        raise _bad("x-ekai-tags", "contains control characters or bytes that are not UTF-8")
    tags: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue  # tolerate `a=1,,b=2` and a trailing comma
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not _TAG_KEY.fullmatch(key):
            raise _bad(
                "x-ekai-tags",
                f"has {item.strip()[:40]!r}: each tag is key=value, the key 1-64 letters, digits or _ . : -",
            )
        if key in tags:
            raise _bad("x-ekai-tags", f"repeats the key {key!r}")
        tags[key] = val.strip()
    if not tags:
        raise _bad("x-ekai-tags", "is empty; send key=value pairs separated by commas")
    return orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode()


def _bad(header: str, what: str) -> ClientError:
    return ClientError(f"The {header} header {what}.", param=header)


def _session(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_SESSION:
        raise _bad("x-ekai-session", f"is {len(value)} characters long; at most {MAX_SESSION} are allowed")
    if _BAD_CHARS.search(value):
        raise _bad("x-ekai-session", "contains control characters or bytes that are not UTF-8")
    return value


def _lenient(value: str | None, limit: int) -> str | None:
    """A client's own header: used when sensible, otherwise ignored."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > limit or _BAD_CHARS.search(value):
        return None
    return value


def _codex_agent(metadata: str | None) -> str | None:
    if not metadata or len(metadata) > MAX_TURN_METADATA or metadata[0] != "{":
        return None
    try:
        data = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None
    name = data.get("agent_name") if isinstance(data, dict) else None
    return _lenient(name, MAX_AGENT) if isinstance(name, str) else None


def identify(headers: Mapping[str, str]) -> Who:
    """Everything `Who` holds, from one request's headers (a few dictionary lookups when the
    client sends none of them; the User-Agent parse is cached)."""
    client, client_version = parse_user_agent(headers.get(_UA))
    problem: ClientError | None = None
    session: str | None = None
    tags: str | None = None
    raw = headers.get(_EKAI_SESSION)
    if raw:
        try:
            session = _session(raw) or None
        except ClientError as exc:
            problem = exc
    if session is None and problem is None:
        session = _lenient(
            headers.get(_CC_SESSION) or headers.get(_CODEX_SESSION) or headers.get(_CODEX_SESSION_ALT),
            MAX_SESSION,
        )
    raw = headers.get(_EKAI_TAGS)
    if raw and problem is None:
        try:
            tags = parse_tags(raw)
        except ClientError as exc:
            problem = exc
    agent = _codex_agent(headers.get(_CODEX_TURN)) or _lenient(headers.get(_CC_AGENT), MAX_AGENT)
    return Who(client, client_version, session, agent, tags, problem)
