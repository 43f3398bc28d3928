"""Strict request validators for the fake upstreams: what the real APIs would answer 400 to.

Each returns a list of problems (empty: the request would be accepted), written like
``"messages.2.content.0: text content blocks must be non-empty"``. They encode the rules of
protocol.md (§1, §9) and the APIs' own error messages, erring on the strict side: a fake upstream
that accepts what the real one refuses hides translator bugs until production.

Anthropic (``validate_anthropic_request``) checks, among others: ``model`` and ``max_tokens``;
unknown top-level fields (Anthropic refuses extra inputs); roles and message keys; the first turn
is a user turn; block types and their keys; empty or whitespace-only text; image media types;
tool-use ids; tool_use ``input`` an object; every ``tool_use`` answered in the *next* user turn,
every ``tool_result`` answering a call of the *preceding* assistant turn, results first in their
turn (consecutive same-role turns are merged first, as Anthropic does); tool blocks need ``tools``;
tool and tool_choice definitions; ``metadata`` only ``user_id``; sampling ranges and the
``temperature`` + ``top_p`` pair; thinking rules (budget >= 1024 and < max_tokens, no temperature
other than 1, no top_k, top_p 0.95..1, no forced tool, no prefill, a tool loop's assistant turn
starting with a signed thinking block); unsigned thinking blocks; trailing whitespace at the end
of a final assistant turn; at most 4 cache breakpoints.

OpenAI (``validate_openai_request``) checks: ``model``; non-empty ``messages``; roles and per-role
message keys; content part types (tool and system content text-only); tool messages answering a
call of the assistant message right before them; every ``tool_calls`` id answered before the next
non-tool message; function names ``^[a-zA-Z0-9_-]{1,64}$``; arguments a string; tool-call ids at
most 40 characters; ``n`` 1..128; ``stream_options`` only with ``stream: true``; ``max_tokens``
and ``max_completion_tokens`` not both; ``tool_choice``/``parallel_tool_calls`` only with
``tools``; sampling ranges; at most 4 stop sequences; unknown top-level fields (OpenAI refuses
unrecognized arguments; ``provider="openrouter"`` or ``"xai"`` allows their extensions).

OpenAI Responses (``validate_responses_request``): see its docstring (items, call pairing,
flat tools, ``store: false`` rules, parameter ranges, unknown top-level fields).
"""

from __future__ import annotations

import re
from typing import Any

TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
OPENAI_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}

ANTHROPIC_FIELDS = {
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "output_config",
    "output_format", "service_tier", "container", "context_management", "mcp_servers",
    "cache_control", "inference_geo",
}
ANTHROPIC_BLOCK_KEYS: dict[str, set[str]] = {
    "text": {"type", "text", "cache_control", "citations"},
    "image": {"type", "source", "cache_control"},
    "document": {"type", "source", "cache_control", "title", "context", "citations"},
    "tool_use": {"type", "id", "name", "input", "cache_control"},
    "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
    "thinking": {"type", "thinking", "signature"},
    "redacted_thinking": {"type", "data"},
    "server_tool_use": {"type", "id", "name", "input", "cache_control"},
    "web_search_tool_result": {"type", "tool_use_id", "content", "cache_control"},
    "search_result": {"type", "source", "title", "content", "citations", "cache_control"},
}
SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "bash_", "text_editor_", "code_execution_",
                        "computer_", "memory_", "tool_search_", "mcp_toolset")

OPENAI_FIELDS = {
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions",
    "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities",
    "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
    "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
}
OPENROUTER_FIELDS = {"reasoning", "top_k", "min_p", "top_a", "repetition_penalty", "usage",
                     "provider", "models", "transforms", "route", "plugins"}
XAI_FIELDS = {"search_parameters"}
OPENAI_MESSAGE_KEYS: dict[str, set[str]] = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
OPENROUTER_MESSAGE_KEYS = {"reasoning_details", "reasoning"}
REASONING_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- Anthropic --------------------------------------------------------------------------------


def _check_text(text: object, where: str, problems: list[str]) -> None:
    if not isinstance(text, str):
        problems.append(f"{where}: text must be a string")
    elif not text.strip():
        problems.append(f"{where}: text content blocks must contain non-whitespace text")


def _check_image(block: dict[str, Any], where: str, problems: list[str]) -> None:
    source = block.get("source")
    if not isinstance(source, dict):
        problems.append(f"{where}.source: required")
        return
    if source.get("type") == "base64":
        if source.get("media_type") not in IMAGE_TYPES:
            problems.append(f"{where}.source.media_type: {source.get('media_type')!r} is not "
                            "one of image/jpeg, image/png, image/gif, image/webp")
        if not isinstance(source.get("data"), str) or not source["data"]:
            problems.append(f"{where}.source.data: required")
    elif source.get("type") == "url":
        if not isinstance(source.get("url"), str) or not source["url"].startswith("http"):
            problems.append(f"{where}.source.url: must be an http(s) URL")
    elif source.get("type") != "file":
        problems.append(f"{where}.source.type: invalid {source.get('type')!r}")


def _check_document(block: dict[str, Any], where: str, problems: list[str]) -> None:
    source = block.get("source")
    stype = source.get("type") if isinstance(source, dict) else None
    if stype == "base64":
        if source.get("media_type") != "application/pdf":  # type: ignore[union-attr]
            problems.append(f"{where}.source.media_type: must be application/pdf")
    elif stype not in ("text", "url", "content", "file"):
        problems.append(f"{where}.source: invalid document source")


def _check_tool_result_content(content: object, where: str, problems: list[str]) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        problems.append(f"{where}.content: must be a string or a list of blocks")
        return
    for k, inner in enumerate(content):
        inner_where = f"{where}.content.{k}"
        itype = inner.get("type") if isinstance(inner, dict) else None
        if itype == "text":
            _check_text(inner.get("text"), inner_where, problems)
        elif itype == "image":
            _check_image(inner, inner_where, problems)
        elif itype not in ("document", "search_result"):
            problems.append(f"{inner_where}.type: {itype!r} not allowed in tool_result")


def _check_block(block: object, role: str, where: str, problems: list[str]) -> None:
    if not isinstance(block, dict):
        problems.append(f"{where}: content block must be an object")
        return
    btype = block.get("type")
    if btype not in ANTHROPIC_BLOCK_KEYS:
        problems.append(f"{where}.type: unknown content block type {btype!r}")
        return
    extra = set(block) - ANTHROPIC_BLOCK_KEYS[btype]
    if extra:
        problems.append(f"{where}: extra inputs are not permitted: {sorted(extra)}")
    if btype == "text":
        _check_text(block.get("text"), where, problems)
    elif btype == "image":
        _check_image(block, where, problems)
    elif btype == "document":
        _check_document(block, where, problems)
    elif btype == "tool_use":
        if role != "assistant":
            problems.append(f"{where}: tool_use blocks are only allowed in assistant turns")
        if not isinstance(block.get("id"), str) or not TOOL_ID.match(block["id"]):
            problems.append(f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not block["name"]:
            problems.append(f"{where}.name: required")
        if not isinstance(block.get("input"), dict):
            problems.append(f"{where}.input: Input should be a valid dictionary")
    elif btype == "tool_result":
        if role != "user":
            problems.append(f"{where}: tool_result blocks are only allowed in user turns")
        tool_id = block.get("tool_use_id")
        if not isinstance(tool_id, str) or not TOOL_ID.match(tool_id):
            problems.append(f"{where}.tool_use_id: String should match pattern "
                            "'^[a-zA-Z0-9_-]+$'")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            problems.append(f"{where}.is_error: must be a boolean")
        _check_tool_result_content(block.get("content"), where, problems)
    elif btype == "thinking":
        if role != "assistant":
            problems.append(f"{where}: thinking blocks are only allowed in assistant turns")
        if not isinstance(block.get("signature"), str) or not block["signature"]:
            problems.append(f"{where}.signature: thinking blocks must carry a valid signature")
        if not isinstance(block.get("thinking"), str):
            problems.append(f"{where}.thinking: must be a string")


def _content_list(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _check_messages(body: dict[str, Any], problems: list[str]) -> list[tuple[str, list[Any]]]:
    """Per-message checks; returns the turns (system messages left out, same roles merged)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages: must be a non-empty list")
        return []
    turns: list[tuple[str, list[Any]]] = []
    last = len(messages) - 1
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            problems.append(f"{where}: must be an object")
            continue
        role = message.get("role")
        extra = set(message) - {"role", "content"}
        if extra:
            problems.append(f"{where}: extra inputs are not permitted: {sorted(extra)}")
        if role not in ("user", "assistant", "system"):
            problems.append(f"{where}.role: must be 'user' or 'assistant', got {role!r}")
            continue
        content = message.get("content")
        final_assistant = role == "assistant" and i == last
        if isinstance(content, str):
            if not content.strip() and not final_assistant:
                problems.append(f"{where}.content: text content blocks must be non-empty")
        elif isinstance(content, list):
            if not content and not final_assistant:
                problems.append(f"{where}.content: must contain at least one block")
            for j, block in enumerate(content):
                _check_block(block, str(role), f"{where}.content.{j}", problems)
        else:
            problems.append(f"{where}.content: must be a string or a list of blocks")
        if role == "system":
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(_content_list(message))
        else:
            turns.append((str(role), list(_content_list(message))))
    if turns and turns[0][0] != "user":
        problems.append("messages: first message must use the \"user\" role")
    return turns


def _check_tool_pairing(turns: list[tuple[str, list[Any]]], problems: list[str]) -> None:
    seen: set[str] = set()
    for t, (role, blocks) in enumerate(turns):
        blocks = [b for b in blocks if isinstance(b, dict)]
        if role == "assistant":
            ids = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
            for tool_id in ids:
                if tool_id in seen:
                    problems.append(f"turn {t}: tool_use ids must be unique: {tool_id!r}")
                seen.add(str(tool_id))
            if not ids:
                continue
            following = turns[t + 1][1] if t + 1 < len(turns) else []
            answered = {b.get("tool_use_id") for b in following
                        if isinstance(b, dict) and b.get("type") == "tool_result"}
            missing = [i for i in ids if i not in answered]
            if missing:
                problems.append(f"turn {t}: tool_use ids were found without tool_result blocks "
                                f"immediately after: {missing}")
            continue
        previous = turns[t - 1][1] if t > 0 and turns[t - 1][0] == "assistant" else []
        calls = {b.get("id") for b in previous
                 if isinstance(b, dict) and b.get("type") == "tool_use"}
        results_done = False
        for b in blocks:
            if b.get("type") != "tool_result":
                results_done = True
                continue
            if results_done:
                problems.append(f"turn {t}: tool_result blocks must come before any other "
                                "content in the user turn")
            if b.get("tool_use_id") not in calls:
                problems.append(f"turn {t}: unexpected tool_use_id {b.get('tool_use_id')!r} "
                                "found in tool_result blocks: each tool_result must have a "
                                "corresponding tool_use in the previous message")


def _check_final_assistant(turns: list[tuple[str, list[Any]]], problems: list[str]) -> None:
    if not turns or turns[-1][0] != "assistant":
        return
    blocks = [b for b in turns[-1][1] if isinstance(b, dict)]
    if blocks and blocks[-1].get("type") == "text":
        text = blocks[-1].get("text")
        if isinstance(text, str) and text != text.rstrip():
            problems.append("messages: final assistant content cannot end with trailing "
                            "whitespace")


def _check_tools(body: dict[str, Any], turns: list[tuple[str, list[Any]]],
                 problems: list[str]) -> None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None and not isinstance(tools, list):
        problems.append("tools: must be a list")
        tools = []
    for i, tool in enumerate(tools or []):
        where = f"tools.{i}"
        if not isinstance(tool, dict):
            problems.append(f"{where}: must be an object")
            continue
        ttype = tool.get("type")
        name = tool.get("name")
        if not isinstance(name, str) or not ANTHROPIC_TOOL_NAME.match(name):
            problems.append(f"{where}.name: String should match pattern "
                            "'^[a-zA-Z0-9_-]{1,128}$'")
        elif name in names:
            problems.append(f"{where}.name: tool names must be unique")
        else:
            names.add(name)
        if ttype in (None, "custom"):
            extra = set(tool) - {"type", "name", "description", "input_schema", "cache_control",
                                 "strict", "input_examples", "defer_loading", "allowed_callers",
                                 "eager_input_streaming"}
            if extra:
                problems.append(f"{where}: extra inputs are not permitted: {sorted(extra)}")
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                problems.append(f"{where}.input_schema: must be a JSON schema of type object")
        elif not (isinstance(ttype, str) and ttype.startswith(SERVER_TOOL_PREFIXES)):
            problems.append(f"{where}.type: unknown tool type {ttype!r}")
    uses_tools = any(isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result")
                     for _, blocks in turns for b in blocks)
    if uses_tools and not tools:
        problems.append("tools: requests which use tool_use or tool_result blocks must define "
                        "tools")
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not tools:
        problems.append("tool_choice: may only be specified while providing tools")
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        problems.append(f"tool_choice: invalid {choice!r}")
        return
    if choice["type"] == "tool" and choice.get("name") not in names:
        problems.append(f"tool_choice.name: no tool named {choice.get('name')!r}")
    extra = set(choice) - {"type", "name", "disable_parallel_tool_use"}
    if extra or (choice["type"] == "none" and "disable_parallel_tool_use" in choice):
        problems.append(f"tool_choice: extra inputs are not permitted: {sorted(extra)}")


def _check_sampling(body: dict[str, Any], problems: list[str]) -> None:
    temperature, top_p, top_k = body.get("temperature"), body.get("top_p"), body.get("top_k")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 1):
        problems.append("temperature: must be a number between 0 and 1")
    if top_p is not None and (not _is_number(top_p) or not 0 <= top_p <= 1):
        problems.append("top_p: must be a number between 0 and 1")
    if temperature is not None and top_p is not None:
        problems.append("temperature and top_p cannot both be specified for this model")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        problems.append("top_k: must be a non-negative integer")
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            problems.append("stop_sequences: must be a list of strings")
        elif any(not s.strip() for s in stops):
            problems.append("stop_sequences: each stop sequence must contain non-whitespace")


def _check_thinking(body: dict[str, Any], turns: list[tuple[str, list[Any]]],
                    problems: list[str]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    ttype = thinking.get("type") if isinstance(thinking, dict) else None
    if ttype not in ("enabled", "adaptive", "disabled"):
        problems.append(f"thinking.type: invalid {ttype!r}")
        return
    if ttype == "disabled":
        return
    if ttype == "enabled":
        budget = thinking.get("budget_tokens")
        max_tokens = body.get("max_tokens")
        if not _is_int(budget) or budget < 1024:
            problems.append("thinking.budget_tokens: must be >= 1024")
        elif _is_int(max_tokens) and budget >= max_tokens:
            problems.append("max_tokens must be greater than thinking.budget_tokens")
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        problems.append("temperature may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        problems.append("top_k is not compatible with thinking")
    top_p = body.get("top_p")
    if top_p is not None and _is_number(top_p) and not 0.95 <= top_p <= 1:
        problems.append("top_p must be between 0.95 and 1 when thinking is enabled")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        problems.append("Thinking may not be enabled when tool_choice forces tool use")
    if turns and turns[-1][0] == "assistant":
        problems.append("Prefilling the assistant message is not supported with thinking")
    if len(turns) >= 2 and turns[-1][0] == "user" and turns[-2][0] == "assistant":
        results = [b for b in turns[-1][1] if isinstance(b, dict)
                   and b.get("type") == "tool_result"]
        blocks = [b for b in turns[-2][1] if isinstance(b, dict)]
        if results and (not blocks or blocks[0].get("type") not in ("thinking",
                                                                     "redacted_thinking")):
            problems.append("messages: Expected `thinking` or `redacted_thinking`, but found "
                            f"`{blocks[0].get('type') if blocks else None}`: with thinking on, "
                            "the assistant turn of a tool loop must start with a thinking block")


def _check_system(system: object, problems: list[str]) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        problems.append("system: must be a string or a list of text blocks")
        return
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            problems.append(f"system.{i}: must be a text block")
            continue
        extra = set(block) - ANTHROPIC_BLOCK_KEYS["text"]
        if extra:
            problems.append(f"system.{i}: extra inputs are not permitted: {sorted(extra)}")
        _check_text(block.get("text"), f"system.{i}", problems)


def _count_cache_breakpoints(value: object) -> int:
    if isinstance(value, dict):
        own = 1 if isinstance(value.get("cache_control"), dict) else 0
        return own + sum(_count_cache_breakpoints(v) for k, v in value.items()
                         if k != "cache_control")
    if isinstance(value, list):
        return sum(_count_cache_breakpoints(v) for v in value)
    return 0


def validate_anthropic_request(body: dict[str, Any]) -> list[str]:
    """Problems the Anthropic Messages API would reject ``body`` for (empty list: valid)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    extra = set(body) - ANTHROPIC_FIELDS
    if extra:
        problems.append(f"{sorted(extra)}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append("max_tokens: Field required (a positive integer)")
    _check_system(body.get("system"), problems)
    turns = _check_messages(body, problems)
    _check_tool_pairing(turns, problems)
    _check_final_assistant(turns, problems)
    _check_tools(body, turns, problems)
    _check_sampling(body, problems)
    _check_thinking(body, turns, problems)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            problems.append("metadata: must be an object")
        else:
            extra_keys = set(metadata) - {"user_id"}
            if extra_keys:
                problems.append(f"metadata.{sorted(extra_keys)}: Extra inputs are not permitted")
            user_id = metadata.get("user_id")
            if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
                problems.append("metadata.user_id: must be a string of at most 256 characters")
            if isinstance(user_id, str) and re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", user_id):
                problems.append("metadata.user_id: must not contain personal information")
    output_config = body.get("output_config")
    if output_config is not None:
        if not isinstance(output_config, dict) or set(output_config) - {"effort", "format"}:
            problems.append("output_config: only effort and format are accepted")
        elif output_config.get("effort") not in (None, "low", "medium", "high", "xhigh", "max"):
            problems.append(f"output_config.effort: invalid {output_config.get('effort')!r}")
    if "stream" in body and not isinstance(body["stream"], bool):
        problems.append("stream: must be a boolean")
    if _count_cache_breakpoints({k: body.get(k) for k in ("system", "messages", "tools")}) > 4:
        problems.append("A maximum of 4 blocks with cache_control may be provided")
    return problems


# --- OpenAI -----------------------------------------------------------------------------------


def _check_openai_part(part: object, allowed: set[str], where: str,
                       problems: list[str]) -> None:
    if not isinstance(part, dict):
        problems.append(f"{where}: content part must be an object")
        return
    ptype = part.get("type")
    if ptype not in allowed:
        problems.append(f"{where}.type: part type {ptype!r} is not allowed here")
        return
    if ptype == "text" and not isinstance(part.get("text"), str):
        problems.append(f"{where}.text: must be a string")
    if ptype == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:")):
            problems.append(f"{where}.image_url.url: must be an http(s) or data URL")
        if isinstance(image, dict) and image.get("detail") not in (None, "auto", "low", "high"):
            problems.append(f"{where}.image_url.detail: invalid")
    if ptype == "file":
        file = part.get("file")
        if not isinstance(file, dict) or not (file.get("file_data") or file.get("file_id")):
            problems.append(f"{where}.file: file_data or file_id required")


def _check_openai_content(message: dict[str, Any], allowed: set[str], where: str,
                          problems: list[str], *, nullable: bool = False) -> None:
    content = message.get("content")
    if content is None:
        if not nullable:
            problems.append(f"{where}.content: required")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        problems.append(f"{where}.content: must be a string or an array of parts")
        return
    for j, part in enumerate(content):
        _check_openai_part(part, allowed, f"{where}.content[{j}]", problems)


def _check_tool_calls(message: dict[str, Any], where: str, problems: list[str]) -> list[str]:
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list) or not calls:
        problems.append(f"{where}.tool_calls: must be a non-empty array")
        return []
    ids: list[str] = []
    for k, call in enumerate(calls):
        cw = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict):
            problems.append(f"{cw}: must be an object")
            continue
        tool_id = call.get("id")
        if not isinstance(tool_id, str) or not tool_id:
            problems.append(f"{cw}.id: required")
        elif len(tool_id) > 40:
            problems.append(f"{cw}.id: string too long, expected at most 40 characters")
        else:
            ids.append(tool_id)
        if call.get("type") != "function":
            problems.append(f"{cw}.type: must be 'function'")
        function = call.get("function")
        if not isinstance(function, dict):
            problems.append(f"{cw}.function: required")
            continue
        name = function.get("name")
        if not isinstance(name, str) or not OPENAI_FUNCTION_NAME.match(name):
            problems.append(f"{cw}.function.name: does not match '^[a-zA-Z0-9_-]{{1,64}}$'")
        if not isinstance(function.get("arguments"), str):
            problems.append(f"{cw}.function.arguments: must be a string")
    return ids


def _check_openai_messages(body: dict[str, Any], provider: str, problems: list[str]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages: must be a non-empty array")
        return
    pending: list[str] = []  # ids of the last assistant tool_calls not yet answered
    answerable: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            problems.append(f"{where}: must be an object")
            continue
        role = message.get("role")
        if role not in OPENAI_MESSAGE_KEYS:
            problems.append(f"{where}.role: invalid role {role!r}")
            continue
        allowed_keys = OPENAI_MESSAGE_KEYS[role]
        if provider == "openrouter" and role == "assistant":
            allowed_keys = allowed_keys | OPENROUTER_MESSAGE_KEYS
        extra = set(message) - allowed_keys
        if extra:
            problems.append(f"{where}: additional properties are not allowed: {sorted(extra)}")
        if role != "tool" and pending:
            problems.append(f"{where}: an assistant message with 'tool_calls' must be followed "
                            f"by tool messages responding to each 'tool_call_id': {pending}")
            pending = []
            answerable = set()
        if role == "tool":
            tool_id = message.get("tool_call_id")
            if tool_id not in answerable:
                problems.append(f"{where}: messages with role 'tool' must be a response to a "
                                "preceding message with 'tool_calls'")
            elif tool_id in pending:
                pending.remove(tool_id)
            _check_openai_content(message, {"text"}, where, problems)
        elif role in ("system", "developer"):
            _check_openai_content(message, {"text"}, where, problems)
        elif role == "user":
            _check_openai_content(message, {"text", "image_url", "input_audio", "file"},
                                  where, problems)
        elif role == "assistant":
            ids = _check_tool_calls(message, where, problems)
            has_calls = bool(ids) or message.get("function_call") is not None
            _check_openai_content(message, {"text", "refusal"}, where, problems,
                                  nullable=has_calls or message.get("refusal") is not None)
            pending, answerable = list(ids), set(ids)
            continue
        if role != "tool":
            answerable = set()
    if pending:
        problems.append(f"messages: an assistant message with 'tool_calls' must be followed by "
                        f"tool messages responding to each 'tool_call_id': {pending}")


def _check_openai_tools(body: dict[str, Any], problems: list[str]) -> set[str]:
    names: set[str] = set()
    tools = body.get("tools")
    if tools is None:
        return names
    if not isinstance(tools, list) or not tools:
        problems.append("tools: must be a non-empty array")
        return names
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            problems.append(f"{where}.type: must be 'function'")
            continue
        extra = set(tool) - {"type", "function"}
        if extra:
            problems.append(f"{where}: additional properties are not allowed: {sorted(extra)}")
        function = tool.get("function")
        if not isinstance(function, dict):
            problems.append(f"{where}.function: required")
            continue
        extra = set(function) - {"name", "description", "parameters", "strict"}
        if extra:
            problems.append(f"{where}.function: additional properties are not allowed: "
                            f"{sorted(extra)}")
        name = function.get("name")
        if not isinstance(name, str) or not OPENAI_FUNCTION_NAME.match(name):
            problems.append(f"{where}.function.name: does not match '^[a-zA-Z0-9_-]{{1,64}}$'")
        else:
            names.add(name)
        if "parameters" in function and not isinstance(function["parameters"], dict):
            problems.append(f"{where}.function.parameters: must be an object")
    return names


def _check_openai_choice(body: dict[str, Any], names: set[str], problems: list[str]) -> None:
    has_tools = bool(body.get("tools"))
    if "tool_choice" in body:
        choice = body["tool_choice"]
        if not has_tools:
            problems.append("tool_choice: 'tool_choice' is only allowed when 'tools' are "
                            "specified")
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name") if choice.get(
                "type") == "function" else None
            if choice.get("type") != "function" or name not in names:
                problems.append(f"tool_choice: invalid or unknown function {choice!r}")
        elif choice not in ("none", "auto", "required"):
            problems.append(f"tool_choice: invalid value {choice!r}")
    if "parallel_tool_calls" in body:
        if not has_tools:
            problems.append("parallel_tool_calls: only allowed when 'tools' are specified")
        if not isinstance(body["parallel_tool_calls"], bool):
            problems.append("parallel_tool_calls: must be a boolean")


def _check_openai_params(body: dict[str, Any], problems: list[str]) -> None:
    if "n" in body and body["n"] is not None and (not _is_int(body["n"])
                                                  or not 1 <= body["n"] <= 128):
        problems.append("n: must be an integer between 1 and 128")
    if "stream_options" in body and body.get("stream") is not True:
        problems.append("stream_options: only allowed when 'stream' is true")
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        problems.append("max_tokens and max_completion_tokens cannot both be set")
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            problems.append(f"{key}: must be a positive integer")
    temperature = body.get("temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        problems.append("temperature: must be between 0 and 2")
    top_p = body.get("top_p")
    if top_p is not None and (not _is_number(top_p) or not 0 <= top_p <= 1):
        problems.append("top_p: must be between 0 and 1")
    for key in ("presence_penalty", "frequency_penalty"):
        value = body.get(key)
        if value is not None and (not _is_number(value) or not -2 <= value <= 2):
            problems.append(f"{key}: must be between -2 and 2")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            problems.append("stop: must be a string or an array of strings")
        elif len(stop) > 4:
            problems.append("stop: at most 4 stop sequences")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        problems.append(f"reasoning_effort: invalid value {effort!r}")
    fmt = body.get("response_format")
    if fmt is not None:
        ftype = fmt.get("type") if isinstance(fmt, dict) else None
        if ftype not in ("text", "json_object", "json_schema"):
            problems.append("response_format.type: invalid")
        if ftype == "json_schema":
            schema = fmt.get("json_schema")
            if not isinstance(schema, dict) or not OPENAI_FUNCTION_NAME.match(
                    str(schema.get("name", ""))):
                problems.append("response_format.json_schema.name: required, "
                                "'^[a-zA-Z0-9_-]{1,64}$'")
    for key in ("user", "safety_identifier"):
        value = body.get(key)
        too_long = key == "safety_identifier" and isinstance(value, str) and len(value) > 64
        if value is not None and (not isinstance(value, str) or too_long):
            problems.append(f"{key}: must be a string (safety_identifier: at most 64)")


def validate_openai_request(body: dict[str, Any], *, provider: str = "openai") -> list[str]:
    """Problems an OpenAI-format API would reject ``body`` for (empty list: valid).

    ``provider`` widens the accepted top-level fields for OpenRouter and xAI extensions.
    """
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    problems: list[str] = []
    allowed = set(OPENAI_FIELDS)
    if provider == "openrouter":
        allowed |= OPENROUTER_FIELDS
    elif provider == "xai":
        allowed |= XAI_FIELDS
    extra = set(body) - allowed
    if extra:
        problems.append(f"Unrecognized request arguments supplied: {sorted(extra)}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: required")
    _check_openai_messages(body, provider, problems)
    names = _check_openai_tools(body, problems)
    _check_openai_choice(body, names, problems)
    _check_openai_params(body, problems)
    return problems


# --- OpenAI Responses -------------------------------------------------------------------------

RESPONSES_FIELDS = {
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
    "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "reasoning",
    "text", "stream", "stream_options", "store", "include", "metadata", "user",
    "safety_identifier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options",
    "previous_response_id", "conversation", "background", "background_options", "truncation",
    "service_tier", "prompt", "context_management", "image", "moderation", "access_programs",
    "client_metadata",  # sent by Codex to api.openai.com, which accepts it
}
RESPONSES_ITEM_TYPES = {
    "message", "function_call", "function_call_output", "custom_tool_call",
    "custom_tool_call_output", "reasoning", "item_reference", "computer_call",
    "computer_call_output", "web_search_call", "file_search_call", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call",
    "shell_call_output", "apply_patch_call", "apply_patch_call_output", "mcp_list_tools",
    "mcp_approval_request", "mcp_approval_response", "mcp_call", "compaction",
    "compaction_trigger", "tool_search_call", "tool_search_output", "additional_tools",
    "program", "program_output",
}
RESPONSES_TOOL_TYPES = {
    "function", "custom", "namespace", "file_search", "computer", "computer_use_preview",
    "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11",
    "mcp", "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell",
    "shell", "tool_search", "apply_patch",
}
RESPONSES_FUNCTION_KEYS = {"type", "name", "description", "parameters", "strict", "defer_loading",
                           "allowed_callers", "output_schema"}
RESPONSES_INPUT_PARTS = {"input_text", "input_image", "input_file", "input_audio"}
RESPONSES_ASSISTANT_PARTS = {"output_text", "refusal"}
RESPONSES_INCLUDABLE = {
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content",
    "message.output_text.logprobs",
}


def _check_responses_part(part: object, allowed: set[str], where: str,
                          problems: list[str]) -> None:
    if not isinstance(part, dict):
        problems.append(f"{where}: content part must be an object")
        return
    ptype = part.get("type")
    if ptype not in allowed:
        problems.append(f"{where}.type: Invalid value: {ptype!r}. Supported values are: "
                        f"{sorted(allowed)}")
        return
    if ptype in ("input_text", "output_text") and not isinstance(part.get("text"), str):
        problems.append(f"{where}.text: must be a string")
    if ptype == "refusal" and not isinstance(part.get("refusal"), str):
        problems.append(f"{where}.refusal: must be a string")
    if ptype == "input_image":
        url, file_id = part.get("image_url"), part.get("file_id")
        if not ((isinstance(url, str) and url.startswith(("http://", "https://", "data:")))
                or (isinstance(file_id, str) and file_id)):
            problems.append(f"{where}: input_image needs an http(s) or data image_url, "
                            "or a file_id")
        if part.get("detail") not in (None, "auto", "low", "high", "original"):
            problems.append(f"{where}.detail: invalid")
    if ptype == "input_file" and not any(
            isinstance(part.get(k), str) and part.get(k) for k in
            ("file_data", "file_id", "file_url")):
        problems.append(f"{where}: input_file needs file_data, file_id or file_url")


def _check_responses_message(item: dict[str, Any], where: str, problems: list[str]) -> None:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        problems.append(f"{where}.role: invalid role {role!r}")
        return
    extra = set(item) - {"type", "role", "content", "id", "status", "phase"}
    if extra:
        problems.append(f"{where}: unknown parameters {sorted(extra)}")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        problems.append(f"{where}.content: must be a string or an array of parts")
        return
    allowed = RESPONSES_ASSISTANT_PARTS if role == "assistant" else RESPONSES_INPUT_PARTS
    for j, part in enumerate(content):
        _check_responses_part(part, allowed, f"{where}.content[{j}]", problems)


def _check_responses_output(output: object, where: str, problems: list[str]) -> None:
    if isinstance(output, str):
        return
    if not isinstance(output, list):
        problems.append(f"{where}.output: must be a string or an array of parts")
        return
    for j, part in enumerate(output):
        _check_responses_part(part, {"input_text", "input_image", "input_file"},
                              f"{where}.output[{j}]", problems)


def _check_responses_input(body: dict[str, Any], problems: list[str]) -> None:
    items = body.get("input")
    if items is None or isinstance(items, str):
        return
    if not isinstance(items, list):
        problems.append("input: must be a string or an array of items")
        return
    calls: dict[str, set[str]] = {"function_call": set(), "custom_tool_call": set()}
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        itype = item.get("type", "message" if "role" in item else None)
        if itype not in RESPONSES_ITEM_TYPES:
            problems.append(f"{where}.type: Invalid value: {itype!r}")
            continue
        if itype == "message":
            _check_responses_message(item, where, problems)
        elif itype in ("function_call", "custom_tool_call"):
            payload = "arguments" if itype == "function_call" else "input"
            for key in ("call_id", "name", payload):
                if not isinstance(item.get(key), str) or (key != payload and not item[key]):
                    problems.append(f"{where}.{key}: required string")
            if isinstance(item.get("call_id"), str):
                calls[itype].add(item["call_id"])
        elif itype in ("function_call_output", "custom_tool_call_output"):
            call_type = itype.removesuffix("_output")
            if item.get("call_id") not in calls[call_type]:
                problems.append(f"{where}: No tool call found for {itype} with call_id "
                                f"{item.get('call_id')!r}.")
            _check_responses_output(item.get("output"), where, problems)
        elif itype == "reasoning":
            if not isinstance(item.get("summary"), list):
                problems.append(f"{where}.summary: required array")
            enc = item.get("encrypted_content")
            if enc is not None and not isinstance(enc, str):
                problems.append(f"{where}.encrypted_content: must be a string")
            if body.get("store") is False and not enc:
                problems.append(f"{where}: a reasoning item without encrypted_content cannot be "
                                "resolved when store is false")
        elif itype == "item_reference" and body.get("store") is False:
            problems.append(f"{where}: item_reference cannot be resolved when store is false")


def _check_responses_function(tool: dict[str, Any], where: str, problems: list[str]) -> None:
    if "function" in tool:
        problems.append(f"{where}: unknown parameter 'function' (Responses function tools "
                        "are flat: type, name, description, parameters, strict)")
    extra = set(tool) - RESPONSES_FUNCTION_KEYS - {"function"}
    if extra:
        problems.append(f"{where}: unknown parameters {sorted(extra)}")
    if not isinstance(tool.get("name"), str) or not OPENAI_FUNCTION_NAME.match(tool["name"]):
        problems.append(f"{where}.name: does not match '^[a-zA-Z0-9_-]{{1,64}}$'")
    params = tool.get("parameters")
    if params is not None and not isinstance(params, dict):
        problems.append(f"{where}.parameters: must be an object")
    if tool.get("strict") is not None and not isinstance(tool["strict"], bool):
        problems.append(f"{where}.strict: must be a boolean")


def _check_responses_tools(body: dict[str, Any], problems: list[str]) -> set[str]:
    names: set[str] = set()
    tools = body.get("tools")
    if tools is None:
        return names
    if not isinstance(tools, list):
        problems.append("tools: must be an array")
        return names
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        ttype = tool.get("type") if isinstance(tool, dict) else None
        if ttype not in RESPONSES_TOOL_TYPES:
            problems.append(f"{where}.type: Invalid value: {ttype!r}")
            continue
        assert isinstance(tool, dict)
        if ttype == "function":
            _check_responses_function(tool, where, problems)
        elif ttype == "custom":
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                problems.append(f"{where}.name: required")
        elif ttype == "namespace":
            inner = tool.get("tools")
            if not isinstance(tool.get("name"), str) or not isinstance(inner, list):
                problems.append(f"{where}: namespace tools need a name and tools")
                continue
            for j, sub in enumerate(inner):
                if not isinstance(sub, dict) or sub.get("type") not in ("function", "custom"):
                    problems.append(f"{where}.tools[{j}].type: must be 'function' or 'custom'")
                elif sub["type"] == "function":
                    _check_responses_function(sub, f"{where}.tools[{j}]", problems)
            continue
        if isinstance(tool.get("name"), str):
            names.add(tool["name"])
    return names


def _check_responses_choice(body: dict[str, Any], names: set[str], problems: list[str]) -> None:
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        return
    if not isinstance(choice, dict):
        problems.append(f"tool_choice: invalid value {choice!r}")
        return
    if choice.get("type") in ("function", "custom"):
        if choice.get("name") not in names:
            problems.append(f"tool_choice: unknown tool {choice.get('name')!r}")
        if "function" in choice:
            problems.append("tool_choice: unknown parameter 'function' (the Responses shape is "
                            "{type, name})")
    elif choice.get("type") == "allowed_tools":
        if choice.get("mode") not in ("auto", "required") or not isinstance(
                choice.get("tools"), list):
            problems.append("tool_choice: allowed_tools needs a mode and tools")
    elif choice.get("type") not in RESPONSES_TOOL_TYPES:
        problems.append(f"tool_choice.type: invalid value {choice.get('type')!r}")


def _check_responses_params(body: dict[str, Any], problems: list[str]) -> None:
    max_out = body.get("max_output_tokens")
    if max_out is not None and (not _is_int(max_out) or max_out < 16):
        problems.append("max_output_tokens: integer below minimum value (16)")
    temperature = body.get("temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        problems.append("temperature: must be between 0 and 2")
    top_p = body.get("top_p")
    if top_p is not None and (not _is_number(top_p) or not 0 <= top_p <= 1):
        problems.append("top_p: must be between 0 and 1")
    for key in ("parallel_tool_calls", "stream", "store", "background"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            problems.append(f"{key}: must be a boolean")
    if "stream_options" in body and body.get("stream") is not True:
        problems.append("stream_options: only allowed when 'stream' is true")
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        problems.append("instructions: must be a string")
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            problems.append("reasoning: must be an object")
        else:
            if reasoning.get("effort") not in (None, *REASONING_EFFORTS, "max"):
                problems.append(f"reasoning.effort: invalid value {reasoning.get('effort')!r}")
            if reasoning.get("summary") not in (None, "auto", "concise", "detailed"):
                problems.append("reasoning.summary: invalid value")
    text = body.get("text")
    if text is not None:
        fmt = text.get("format") if isinstance(text, dict) else None
        if not isinstance(text, dict):
            problems.append("text: must be an object")
        elif fmt is not None:
            ftype = fmt.get("type") if isinstance(fmt, dict) else None
            if ftype not in ("text", "json_object", "json_schema"):
                problems.append("text.format.type: invalid")
            elif ftype == "json_schema" and (
                    not OPENAI_FUNCTION_NAME.match(str(fmt.get("name", "")))
                    or not isinstance(fmt.get("schema"), dict)):
                problems.append("text.format: json_schema needs a name and a schema "
                                "(flat, not nested under 'json_schema')")
        if isinstance(text, dict) and text.get("verbosity") not in (None, "low", "medium", "high"):
            problems.append("text.verbosity: invalid value")
    include = body.get("include")
    if include is not None and (not isinstance(include, list)
                                or any(x not in RESPONSES_INCLUDABLE for x in include)):
        problems.append(f"include: invalid value {include!r}")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16 or any(
            not isinstance(v, str) for v in metadata.values())):
        problems.append("metadata: at most 16 string values")
    if body.get("truncation") not in (None, "auto", "disabled"):
        problems.append("truncation: invalid value")
    for key in ("user", "safety_identifier", "prompt_cache_key", "previous_response_id"):
        if body.get(key) is not None and not isinstance(body[key], str):
            problems.append(f"{key}: must be a string")


def validate_responses_request(body: dict[str, Any]) -> list[str]:
    """Problems the OpenAI Responses API would reject ``body`` for (empty list: valid).

    Checks: ``model``; unknown top-level fields (Chat fields such as ``messages``,
    ``max_tokens``, ``response_format``, ``stop`` included); ``input`` a string or items of known
    types; message roles and content part types per role (assistant: ``output_text``/``refusal``;
    others: ``input_*``); every ``function_call_output``/``custom_tool_call_output`` answering an
    earlier call's ``call_id``; reasoning items need ``encrypted_content`` (and item references
    are unresolvable) with ``store: false``; flat function tools with valid names (a nested
    ``function`` object is the Chat shape); namespace and custom tools; ``tool_choice`` shape
    and names; ``max_output_tokens`` >= 16; sampling ranges; ``reasoning``, ``text.format``
    (flat json_schema), ``include``, ``metadata``, ``truncation`` values.
    """
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    problems: list[str] = []
    extra = set(body) - RESPONSES_FIELDS
    if extra:
        problems.append(f"Unknown parameter(s): {sorted(extra)}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model: required")
    _check_responses_input(body, problems)
    names = _check_responses_tools(body, problems)
    _check_responses_choice(body, names, problems)
    _check_responses_params(body, problems)
    return problems
