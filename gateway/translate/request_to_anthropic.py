"""OpenAI Chat Completions request -> Anthropic Messages request (protocol.md §1, §9).

The body is rebuilt from scratch, field by field: nothing the client sent reaches Anthropic unless a
rule below carries it, because Anthropic answers 400 to any field it does not know.

Messages. ``system`` and ``developer`` messages are hoisted, wherever they are, into the top-level
``system`` blocks. The rest becomes a list of turns that is then *normalised* in one pass, so that
the result satisfies Anthropic's structural rules whatever order the client used:

1. turns without content are dropped (empty strings, whitespace-only text parts: Anthropic rejects
   empty text blocks);
2. consecutive turns of one role are merged, and inside a user turn the ``tool_result`` blocks
   move in front of text and images (tool messages merge into one user turn with the next user
   message after them);
3. every ``tool_use`` gets its ``tool_result`` in the next user turn: a missing one is added as
   ``{"is_error": true, "content": "No result"}``; a result that answers no call of the preceding
   assistant turn becomes plain text (Anthropic rejects it otherwise); a tool-use id that repeats
   an earlier one is renamed within its pair, since ids must be unique;
4. a final assistant turn loses its trailing whitespace (Anthropic treats it as a prefill and
   rejects trailing whitespace);
5. the conversation starts with a user turn: if it does not, a ``"."`` user turn is prepended.

Tool-call ids go through :func:`~gateway.translate.names.sanitize_tool_id` on both sides of a pair.
A trailing assistant message is sent as is, so Anthropic *continues* it (prefill); that is the
documented behaviour for OpenAI clients of this gateway, and it switches thinking off.

Thinking. ``reasoning_effort`` becomes adaptive thinking plus ``output_config.effort`` on models
that take it (4.6+), else budget thinking (LiteLLM's budgets: low 1024, medium 2048, high 4096),
and nothing on models without thinking; ``none`` leaves thinking off. A ``thinking`` object sent
by the client (LiteLLM's extension) is used as given. With budget thinking, ``max_tokens`` is
raised by the budget, because an OpenAI client's limit means visible output. Thinking is switched
off, rather than failing the request, when Anthropic would reject it: a forced tool choice
(``required``, a named function, the JSON-format emulation), a prefill, or a tool loop whose last
assistant turn carries no signed thinking block. Signed blocks come back from the client in the
assistant message's ``thinking_blocks`` extension field and are put first in the turn.

Sampling. ``temperature`` is clamped to 0..1; with both ``temperature`` and ``top_p``, ``top_p`` is
dropped (newer models reject the pair); with thinking on, ``temperature`` other than 1, ``top_p``
outside 0.95..1 and ``top_k`` are dropped. Whitespace-only stop sequences are dropped.

Refused with :class:`TranslationError` (400): ``n`` > 1, ``logprobs: true``, audio input or
output, image types other than jpeg/png/gif/webp, files other than PDF data URLs, non-function
tools. Dropped silently: ``presence_penalty``, ``frequency_penalty``, ``logit_bias``, ``seed``,
``top_logprobs``, ``stream_options``, OpenAI ``metadata``, ``store``, ``service_tier``,
``prediction``, ``verbosity``, ``web_search_options``, ``prompt_cache_key``, the tools' ``strict``
flag (only some Claude models accept it, and the OpenAI Agents SDK sets it on every tool), and
any field this module does not know.

``user`` (or ``safety_identifier``) becomes ``metadata.user_id``; an email address is replaced by
``user_`` plus 32 hex digits of its SHA-256, since Anthropic forbids personal data there.

``response_format`` ``json_schema``/``json_object`` is emulated with a forced tool named
``json_tool_call`` whose input schema is the requested schema; the response translators turn that
call back into ``message.content``. When the client also has tools, ``tool_choice`` becomes
``any`` instead, so the model either calls a real tool or answers through ``json_tool_call``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from gateway.translate.common import (
    JSON_TOOL_NAME,
    as_dict,
    as_int,
    as_list,
    as_number,
    parse_arguments,
)
from gateway.translate.errors import TranslationError
from gateway.translate.models import DEFAULT_MAX_TOKENS, claude_limits
from gateway.translate.names import sanitize_tool_id

Block = dict[str, Any]
Turn = dict[str, Any]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
ADAPTIVE_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
MIN_THINKING_BUDGET = 1024
PLACEHOLDER_USER_TEXT = "."
MISSING_RESULT_TEXT = "No result"

_DATA_URL = re.compile(r"^data:([^;,]+)((?:;[^;,]*)*),(.*)$", re.DOTALL)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


# --- content --------------------------------------------------------------------------------


def _text_block(text: str, part: dict[str, Any] | None = None) -> Block | None:
    """A text block, or None for text Anthropic would reject as empty."""
    if not text.strip():
        return None
    block: Block = {"type": "text", "text": text}
    if part and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _parse_data_url(url: str, param: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` -> (mime, data)."""
    match = _DATA_URL.match(url)
    if not match or "base64" not in match.group(2).lower().split(";"):
        raise TranslationError("Only base64 data URLs are supported", param)
    return match.group(1).strip().lower(), match.group(3)


def _image_block(part: dict[str, Any], param: str) -> Block:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise TranslationError("image_url.url is required", param)
    if url.startswith("data:"):
        mime, data = _parse_data_url(url, param)
        mime = "image/jpeg" if mime == "image/jpg" else mime
        if mime not in IMAGE_TYPES:
            raise TranslationError(f"Unsupported image type {mime!r}: use jpeg, png, gif or webp", param)
        source: dict[str, Any] = {"type": "base64", "media_type": mime, "data": data}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise TranslationError("image_url.url must be an http(s) or data URL", param)
    block: Block = {"type": "image", "source": source}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _file_block(part: dict[str, Any], param: str) -> Block:
    file = as_dict(part.get("file"))
    data_url = file.get("file_data")
    if not isinstance(data_url, str):
        raise TranslationError("Only inline PDF files (file.file_data) are supported", param)
    mime, data = _parse_data_url(data_url, param)
    if mime != "application/pdf":
        raise TranslationError(f"Unsupported file type {mime!r}: only application/pdf", param)
    return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}


def _content_blocks(content: object, param: str, *, images: bool = True) -> list[Block]:
    """OpenAI message content (string or parts) -> Anthropic blocks, empty text dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        block = _text_block(content)
        return [block] if block else []
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    blocks: list[Block] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if isinstance(part, str):
            part = {"type": "text", "text": part}
        ptype = as_dict(part).get("type")
        if ptype in ("text", "refusal"):
            text = part.get("text") if ptype == "text" else part.get("refusal")
            block = _text_block(text if isinstance(text, str) else "", part)
            if block:
                blocks.append(block)
        elif ptype == "image_url" and images:
            blocks.append(_image_block(part, where))
        elif ptype == "file" and images:
            blocks.append(_file_block(part, where))
        elif ptype == "input_audio":
            raise TranslationError("Audio input is not supported by this model", where)
        else:
            raise TranslationError(f"Unsupported content part type {ptype!r}", where)
    return blocks


def _tool_result_content(content: object, param: str) -> str | list[Block] | None:
    """Tool message content -> tool_result content (None: leave the field out)."""
    if isinstance(content, str):
        return content if content.strip() else None
    blocks = _content_blocks(content, param)
    return blocks or None


def _thinking_blocks(message: dict[str, Any]) -> list[Block]:
    """Signed blocks from the ``thinking_blocks`` extension; unsigned ones cannot go back."""
    blocks: list[Block] = []
    for item in as_list(message.get("thinking_blocks")):
        item = as_dict(item)
        if item.get("type") == "thinking" and item.get("signature"):
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": str(item.get("thinking") or ""),
                    "signature": item["signature"],
                }
            )
        elif item.get("type") == "redacted_thinking" and item.get("data"):
            blocks.append({"type": "redacted_thinking", "data": item["data"]})
    return blocks


def _tool_use_block(call: dict[str, Any], param: str) -> Block:
    if call.get("type", "function") != "function":
        raise TranslationError(f"Unsupported tool call type {call.get('type')!r}", param)
    function = as_dict(call.get("function"))
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("tool call without a function name", param)
    return {
        "type": "tool_use",
        "id": sanitize_tool_id(call.get("id")),
        "name": name,
        "input": parse_arguments(function.get("arguments")),
    }


def _assistant_blocks(message: dict[str, Any], index: int, legacy_ids: list[str]) -> list[Block]:
    param = f"messages[{index}]"
    blocks = _thinking_blocks(message)
    blocks += _content_blocks(message.get("content"), f"{param}.content", images=False)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and not blocks:
        block = _text_block(refusal)
        blocks += [block] if block else []
    for k, call in enumerate(as_list(message.get("tool_calls"))):
        blocks.append(_tool_use_block(as_dict(call), f"{param}.tool_calls[{k}]"))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        legacy_id = f"call_legacy_{index}"
        legacy_ids.append(legacy_id)
        blocks.append(_tool_use_block({"id": legacy_id, "function": legacy}, param))
    return blocks


# --- messages -------------------------------------------------------------------------------


def _split_messages(messages: list[Any]) -> tuple[list[Block], list[Turn]]:
    """Hoist system/developer text; turn every other message into a (role, blocks) turn."""
    system: list[Block] = []
    turns: list[Turn] = []
    legacy_ids: list[str] = []
    for i, raw in enumerate(messages):
        message = as_dict(raw)
        role = message.get("role")
        param = f"messages[{i}]"
        if role in ("system", "developer"):
            system += _content_blocks(message.get("content"), f"{param}.content", images=False)
        elif role == "user":
            turns.append(
                {"role": "user", "content": _content_blocks(message.get("content"), f"{param}.content")}
            )
        elif role == "assistant":
            turns.append({"role": "assistant", "content": _assistant_blocks(message, i, legacy_ids)})
        elif role in ("tool", "function"):
            tool_id = (
                message.get("tool_call_id")
                if role == "tool"
                else (legacy_ids.pop(0) if legacy_ids else f"call_legacy_{i}")
            )
            result: Block = {"type": "tool_result", "tool_use_id": sanitize_tool_id(tool_id)}
            content = _tool_result_content(message.get("content"), f"{param}.content")
            if content is not None:
                result["content"] = content
            turns.append({"role": "user", "content": [result]})
        else:
            raise TranslationError(f"Unsupported message role {role!r}", f"{param}.role")
    return system, turns


def _merge_turns(turns: list[Turn]) -> list[Turn]:
    """Drop empty turns, merge same-role neighbours, put tool_result blocks first in user turns."""
    merged: list[Turn] = []
    for turn in turns:
        if not turn["content"]:
            continue
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1]["content"] = merged[-1]["content"] + turn["content"]
        else:
            merged.append({"role": turn["role"], "content": list(turn["content"])})
    for turn in merged:
        if turn["role"] == "user":
            content = turn["content"]
            turn["content"] = [b for b in content if b["type"] == "tool_result"] + [
                b for b in content if b["type"] != "tool_result"
            ]
    return merged


def _result_as_text(block: Block) -> list[Block]:
    """A tool_result that answers no call, kept as text (and its images) rather than dropped."""
    content = block.get("content")
    label = f"[result of tool call {block['tool_use_id']}]"
    if isinstance(content, str):
        return [{"type": "text", "text": f"{label} {content}"}]
    others = [b for b in as_list(content) if b.get("type") != "text"]
    texts = " ".join(b["text"] for b in as_list(content) if b.get("type") == "text")
    return [{"type": "text", "text": f"{label} {texts}".rstrip()}, *others]


def _pair_tool_calls(turns: list[Turn]) -> list[Turn]:
    """Every tool_use answered in the next user turn; every tool_result answering a tool_use."""
    out: list[Turn] = []
    seen_ids: set[str] = set()
    expected: list[str] = []  # ids of the previous assistant turn, in order
    renames: dict[str, str] = {}
    for turn in turns:
        if turn["role"] == "assistant":
            if expected:  # previous assistant calls went unanswered: answer them now
                out.append({"role": "user", "content": _missing_results(expected)})
            expected, renames = [], {}
            for block in turn["content"]:
                if block["type"] == "tool_use":
                    new_id = _unique_id(block["id"], seen_ids)
                    if new_id != block["id"]:
                        renames[block["id"]] = new_id
                        block["id"] = new_id
                    seen_ids.add(new_id)
                    expected.append(new_id)
            out.append(turn)
            continue
        results: list[Block] = []
        rest: list[Block] = []
        answered: set[str] = set()
        for block in turn["content"]:
            if block["type"] != "tool_result":
                rest.append(block)
                continue
            tool_id = renames.get(block["tool_use_id"], block["tool_use_id"])
            if tool_id in expected and tool_id not in answered:
                answered.add(tool_id)
                results.append({**block, "tool_use_id": tool_id})
            else:
                rest.extend(_result_as_text(block))
        missing = [i for i in expected if i not in answered]
        turn["content"] = results + _missing_results(missing) + rest
        expected, renames = [], {}
        out.append(turn)
    if expected:
        out.append({"role": "user", "content": _missing_results(expected)})
    return out


def _unique_id(tool_id: str, seen: set[str]) -> str:
    if tool_id not in seen:
        return tool_id
    n = 2
    while f"{tool_id}_{n}" in seen:
        n += 1
    return f"{tool_id}_{n}"


def _missing_results(ids: list[str]) -> list[Block]:
    return [
        {"type": "tool_result", "tool_use_id": i, "is_error": True, "content": MISSING_RESULT_TEXT}
        for i in ids
    ]


def _strip_final_assistant(turns: list[Turn]) -> list[Turn]:
    """Anthropic rejects a final assistant turn that ends with whitespace."""
    while turns and turns[-1]["role"] == "assistant":
        content = turns[-1]["content"]
        if content and content[-1]["type"] == "text":
            text = content[-1]["text"].rstrip()
            if text:
                content[-1] = {**content[-1], "text": text}
            else:
                content.pop()
                continue
        if content:
            break
        turns.pop()
    return turns


def normalize_turns(turns: list[Turn]) -> list[Turn]:
    """Apply the structural rules of the module docstring, in order."""
    turns = _merge_turns(turns)
    turns = _pair_tool_calls(turns)
    turns = _merge_turns(turns)
    turns = _strip_final_assistant(turns)
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER_USER_TEXT}]})
    return turns


def _tool_loop_lacks_thinking(turns: list[Turn]) -> bool:
    """True when the conversation ends in tool results answering an assistant turn that does
    not start with a thinking block (Anthropic rejects that while thinking is on)."""
    if len(turns) < 2 or turns[-1]["role"] != "user" or turns[-2]["role"] != "assistant":
        return False
    if not any(b.get("type") == "tool_result" for b in turns[-1]["content"]):
        return False
    first = turns[-2]["content"][0].get("type") if turns[-2]["content"] else None
    return first not in ("thinking", "redacted_thinking")


def strip_unsigned_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic request without the unsigned thinking blocks Anthropic would reject.

    For the Anthropic -> Anthropic pass-through: a client that earlier talked to an OpenAI-format
    provider through this gateway holds thinking blocks with ``signature: ""`` (the upstream had
    reasoning text but no signature, see the response translators). Those blocks are removed
    (an assistant message left empty goes too), and ``thinking`` is switched off if the tool
    loop in progress no longer starts with a thinking block. Returns ``body`` itself when there
    is nothing to strip.
    """
    messages: list[Any] = []
    changed = False
    for message in as_list(body.get("messages")):
        content = as_dict(message).get("content")
        if as_dict(message).get("role") == "assistant" and isinstance(content, list):
            kept = [
                b
                for b in content
                if not (as_dict(b).get("type") == "thinking" and not as_dict(b).get("signature"))
            ]
            if len(kept) != len(content):
                changed = True
                if not kept:
                    continue
                message = {**message, "content": kept}
        messages.append(message)
    if not changed:
        return body
    out = {**body, "messages": messages}
    turns = [
        {"role": m["role"], "content": [as_dict(b) for b in as_list(m.get("content"))]}
        for m in map(as_dict, messages)
        if m.get("role") in ("user", "assistant")
    ]
    thinking_on = as_dict(out.get("thinking")).get("type") in ("enabled", "adaptive")
    if thinking_on and _tool_loop_lacks_thinking(turns):
        out.pop("thinking")
    return out


# --- tools ----------------------------------------------------------------------------------


def _convert_tool(tool: object, param: str) -> dict[str, Any]:
    tool = as_dict(tool)
    if tool.get("type", "function") != "function":
        raise TranslationError(f"Unsupported tool type {tool.get('type')!r}", param)
    function = as_dict(tool.get("function"))
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("tool function name is required", param)
    out: dict[str, Any] = {"name": name}
    if isinstance(function.get("description"), str) and function["description"]:
        out["description"] = function["description"]
    schema = function.get("parameters")
    out["input_schema"] = schema if isinstance(schema, dict) and schema else dict(_EMPTY_SCHEMA)
    if isinstance(tool.get("cache_control"), dict):
        out["cache_control"] = tool["cache_control"]
    return out


def _convert_tool_choice(choice: object, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    choice = as_dict(choice)
    if choice.get("type") == "function":
        name = as_dict(choice.get("function")).get("name") or choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    if choice.get("type") == "allowed_tools":
        allowed = as_dict(choice.get("allowed_tools"))
        names = {
            as_dict(t.get("function")).get("name") or t.get("name")
            for t in map(as_dict, as_list(allowed.get("tools")))
        }
        tools[:] = [t for t in tools if t["name"] in names] or tools
        return {"type": "any" if allowed.get("mode") == "required" else "auto"}
    raise TranslationError(f"Unsupported tool_choice {choice!r}", "tool_choice")


def _legacy_function_choice(choice: object) -> object:
    """``function_call`` (legacy) -> the equivalent ``tool_choice`` value."""
    if isinstance(choice, dict) and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def _tools_and_choice(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    raw_tools = as_list(body.get("tools")) + [
        {"type": "function", "function": f} for f in as_list(body.get("functions"))
    ]
    tools = [_convert_tool(t, f"tools[{i}]") for i, t in enumerate(raw_tools)]
    raw_choice = body.get("tool_choice")
    if raw_choice is None:
        raw_choice = _legacy_function_choice(body.get("function_call"))
    choice = _convert_tool_choice(raw_choice, tools)
    choice = _apply_response_format(body.get("response_format"), tools, choice)
    if not tools:
        return [], None
    if body.get("parallel_tool_calls") is False and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tools, choice


def _apply_response_format(
    fmt: object, tools: list[dict[str, Any]], choice: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Emulate JSON output with the forced ``json_tool_call`` tool (see module docstring)."""
    fmt = as_dict(fmt)
    if fmt.get("type") == "json_schema":
        schema = as_dict(as_dict(fmt.get("json_schema")).get("schema")) or dict(_EMPTY_SCHEMA)
        if schema.get("type", "object") != "object":
            raise TranslationError("response_format schema must describe an object", "response_format")
        description = "Respond with a JSON object that matches this schema."
    elif fmt.get("type") == "json_object":
        schema = {"type": "object", "additionalProperties": True, "properties": {}}
        description = "Respond with a JSON object."
    else:
        return choice
    if any(t["name"] == JSON_TOOL_NAME for t in tools):
        raise TranslationError(
            f"A tool may not be named {JSON_TOOL_NAME!r} together with response_format", "tools"
        )
    had_tools = bool(tools)
    tools.append({"name": JSON_TOOL_NAME, "description": description, "input_schema": schema})
    forced = {"type": "tool", "name": JSON_TOOL_NAME}
    if not had_tools or (choice or {}).get("type") == "none":
        return forced
    if (choice or {}).get("type") == "tool":
        return choice
    return {"type": "any"}


def _history_tool_names(turns: list[Turn]) -> list[str]:
    names = [b["name"] for t in turns for b in t["content"] if b["type"] == "tool_use"]
    return list(dict.fromkeys(names))


def _has_tool_blocks(turns: list[Turn]) -> bool:
    return any(b["type"] in ("tool_use", "tool_result") for t in turns for b in t["content"])


# --- parameters -----------------------------------------------------------------------------


def _positive_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TranslationError(f"{key} must be a positive integer", key)
    return value


def _reject_unsupported(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError("n>1 is not supported for this model", "n")
    if body.get("logprobs") is True:
        raise TranslationError("logprobs are not supported for this model", "logprobs")
    if body.get("audio") is not None or "audio" in as_list(body.get("modalities")):
        raise TranslationError("Audio output is not supported for this model", "modalities")
    if not isinstance(body.get("messages"), list):
        raise TranslationError("messages must be an array", "messages")


def _thinking(body: dict[str, Any], model: str) -> tuple[dict[str, Any] | None, str | None]:
    """(thinking object or None, adaptive effort or None) from reasoning_effort / thinking."""
    explicit = body.get("thinking")
    if isinstance(explicit, dict) and explicit.get("type") in ("enabled", "adaptive"):
        return dict(explicit), None
    effort = body.get("reasoning_effort")
    kind = claude_limits(model).thinking
    if not isinstance(effort, str) or effort == "none" or kind == "none":
        return None, None
    if kind == "adaptive":
        return {"type": "adaptive"}, ADAPTIVE_EFFORTS.get(effort, "medium")
    return {"type": "enabled", "budget_tokens": THINKING_BUDGETS.get(effort, 2048)}, None


def _thinking_must_go(turns: list[Turn], choice: dict[str, Any] | None) -> bool:
    """True when Anthropic would reject thinking for this conversation (module docstring)."""
    if (choice or {}).get("type") in ("any", "tool"):
        return True
    if turns[-1]["role"] == "assistant":
        return True  # prefill
    return _tool_loop_lacks_thinking(turns)


def _max_tokens(
    body: dict[str, Any], model: str, limit: int | None, thinking: dict[str, Any] | None
) -> tuple[int, dict[str, Any] | None]:
    """``max_tokens`` (clamped to the ceiling) and the thinking object adjusted to fit it."""
    requested = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    ceiling = limit or claude_limits(model).max_output
    wanted = requested or (min(DEFAULT_MAX_TOKENS, ceiling) if ceiling else DEFAULT_MAX_TOKENS)
    budget = (thinking or {}).get("budget_tokens")
    if thinking and thinking.get("type") == "enabled" and isinstance(budget, int):
        wanted += budget
    max_tokens = min(wanted, ceiling) if ceiling else wanted
    if thinking and thinking.get("type") == "enabled" and isinstance(budget, int):
        if budget >= max_tokens:
            budget = max_tokens - 1
        if budget < MIN_THINKING_BUDGET:
            return max_tokens, None
        thinking = {**thinking, "budget_tokens": budget}
    return max_tokens, thinking


def _user_id(body: dict[str, Any]) -> str | None:
    user = body.get("user") or body.get("safety_identifier")
    if not isinstance(user, str) or not user.strip():
        return None
    if _EMAIL.match(user.strip()) or len(user) > 256:
        return "user_" + hashlib.sha256(user.strip().lower().encode()).hexdigest()[:32]
    return user


def _stop_sequences(stop: object) -> list[str]:
    items = [stop] if isinstance(stop, str) else as_list(stop)
    return [s for s in items if isinstance(s, str) and s.strip()]


def _sampling(body: dict[str, Any], thinking_on: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    temperature = as_number(body.get("temperature"))
    top_p = as_number(body.get("top_p"))
    top_k = as_int(body.get("top_k"))
    if temperature is not None:
        temperature = min(max(temperature, 0.0), 1.0)
        if not thinking_on or temperature == 1.0:
            out["temperature"] = temperature
    if top_p is not None and "temperature" not in out and (not thinking_on or 0.95 <= top_p <= 1):
        out["top_p"] = min(max(top_p, 0.0), 1.0)
    if top_k is not None and top_k > 0 and not thinking_on:
        out["top_k"] = top_k
    return out


# --- entry point ----------------------------------------------------------------------------


def openai_to_anthropic_request(
    body: dict[str, Any], *, model: str, max_tokens_limit: int | None = None
) -> dict[str, Any]:
    """An OpenAI Chat Completions request -> an Anthropic Messages request for ``model``.

    ``max_tokens_limit`` overrides the model's output ceiling from the built-in table (for models
    the table does not know, or limits read from ``/v1/models``). Raises
    :class:`TranslationError` for requests that cannot be carried across.
    """
    _reject_unsupported(body)
    system, raw_turns = _split_messages(body["messages"])
    tools, choice = _tools_and_choice(body)
    turns = normalize_turns(raw_turns)
    if not tools and _has_tool_blocks(turns):
        # Anthropic rejects tool history without `tools`: declare the names, forbid new calls.
        tools = [
            {
                "name": n,
                "description": "Tool used earlier in this conversation.",
                "input_schema": dict(_EMPTY_SCHEMA),
            }
            for n in _history_tool_names(turns)
        ]
        tools = tools or [{"name": "unused_tool", "input_schema": dict(_EMPTY_SCHEMA)}]
        choice = {"type": "none"}

    thinking, effort = _thinking(body, model)
    if thinking and _thinking_must_go(turns, choice):
        thinking, effort = None, None
    max_tokens, thinking = _max_tokens(body, model, max_tokens_limit, thinking)
    if thinking is None:
        effort = None

    out: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    if system:
        out["system"] = system
    out["messages"] = turns
    if tools:
        out["tools"] = tools
        if choice:
            out["tool_choice"] = choice
    if thinking:
        out["thinking"] = thinking
    if effort:
        out["output_config"] = {"effort": effort}
    out.update(_sampling(body, thinking is not None))
    stops = _stop_sequences(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    user_id = _user_id(body)
    if user_id:
        out["metadata"] = {"user_id": user_id}
    if "stream" in body:
        out["stream"] = bool(body["stream"])
    return out
