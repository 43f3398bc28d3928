"""The fake provider's Responses API: real reply JSON, real SSE event streams, strict checks.

`response_json(model, items, usage)` is a complete `Response` object; `response_events(model,
items, usage)` is the stream OpenAI sends for the same output, event by event (`response.created`,
`response.in_progress`, then per item `output_item.added`, its deltas and `.done` events,
`output_item.done`, and finally `response.completed`, or `response.incomplete` when
`status="incomplete"`), every payload with its `type` and a running `sequence_number`.

Items are given complete (as in a non-streamed reply) with the helpers `message`, `reasoning`,
`function_call` and `custom_tool_call`; the stream splits their text into deltas.

`check_responses_request(body)` validates a request the way api.openai.com does for the parts the
gateway touches: unknown top-level parameters, item types, a `function_call_output` without its
call, tools in the Responses shape (`name` at the top level, not under `function`).
"""

from __future__ import annotations

import itertools
from typing import Any

RESPONSES_USAGE = {
    "input_tokens": 6500,
    "input_tokens_details": {"cached_tokens": 5000},
    "output_tokens": 250,
    "output_tokens_details": {"reasoning_tokens": 100},
    "total_tokens": 6750,
}

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):06d}"


def message(text: str, *, refusal: bool = False) -> dict[str, Any]:
    part = (
        {"type": "refusal", "refusal": text}
        if refusal
        else {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    )
    return {
        "type": "message",
        "id": _id("msg"),
        "status": "completed",
        "role": "assistant",
        "content": [part],
    }


def reasoning(summary: str, encrypted: str | None = "gAAAAfake-encrypted") -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": _id("rs"),
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def function_call(name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": _id("fc"),
        "call_id": call_id or _id("call"),
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def custom_tool_call(name: str, text: str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "custom_tool_call",
        "id": _id("ctc"),
        "call_id": call_id or _id("call"),
        "name": name,
        "input": text,
        "status": "completed",
    }


def response_json(
    model: str,
    items: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    *,
    status: str = "completed",
    request: dict[str, Any] | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    request = request or {}
    incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
    return {
        "id": rid or _id("resp"),
        "object": "response",
        "created_at": 1760000000,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": items if items is not None else [message("Hello from the fake.")],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": request.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage if usage is not None else RESPONSES_USAGE,
        "user": None,
        "metadata": {},
    }


def _chunks(text: str, n: int = 3) -> list[str]:
    if not text:
        return []
    size = max(len(text) // n, 1)
    return [text[i : i + size] for i in range(0, len(text), size)]


def response_events(
    model: str,
    items: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    *,
    status: str = "completed",
    request: dict[str, Any] | None = None,
    fail: str | None = None,
) -> list[tuple[str | None, Any]]:
    """The SSE events of a streamed response; `fail` ends it with `response.failed` instead."""
    final = response_json(model, items, usage, status=status, request=request)
    rid = final["id"]
    start = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    seq = itertools.count(0)
    events: list[tuple[str | None, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": next(seq), **fields}))

    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(final["output"]):
        kind = item["type"]
        iid = item["id"]
        if kind == "message":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            for ci, part in enumerate(item["content"]):
                if part["type"] == "output_text":
                    emit(
                        "response.content_part.added",
                        item_id=iid,
                        output_index=index,
                        content_index=ci,
                        part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                    )
                    for piece in _chunks(part["text"]):
                        emit(
                            "response.output_text.delta",
                            item_id=iid,
                            output_index=index,
                            content_index=ci,
                            delta=piece,
                            logprobs=[],
                        )
                    emit(
                        "response.output_text.done",
                        item_id=iid,
                        output_index=index,
                        content_index=ci,
                        text=part["text"],
                        logprobs=[],
                    )
                else:
                    emit(
                        "response.content_part.added",
                        item_id=iid,
                        output_index=index,
                        content_index=ci,
                        part={"type": "refusal", "refusal": ""},
                    )
                    for piece in _chunks(part["refusal"]):
                        emit(
                            "response.refusal.delta",
                            item_id=iid,
                            output_index=index,
                            content_index=ci,
                            delta=piece,
                        )
                    emit(
                        "response.refusal.done",
                        item_id=iid,
                        output_index=index,
                        content_index=ci,
                        refusal=part["refusal"],
                    )
                emit(
                    "response.content_part.done", item_id=iid, output_index=index, content_index=ci, part=part
                )
        elif kind == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for si, part in enumerate(item["summary"]):
                emit(
                    "response.reasoning_summary_part.added",
                    item_id=iid,
                    output_index=index,
                    summary_index=si,
                    part={"type": "summary_text", "text": ""},
                )
                for piece in _chunks(part["text"]):
                    emit(
                        "response.reasoning_summary_text.delta",
                        item_id=iid,
                        output_index=index,
                        summary_index=si,
                        delta=piece,
                    )
                emit(
                    "response.reasoning_summary_text.done",
                    item_id=iid,
                    output_index=index,
                    summary_index=si,
                    text=part["text"],
                )
                emit(
                    "response.reasoning_summary_part.done",
                    item_id=iid,
                    output_index=index,
                    summary_index=si,
                    part=part,
                )
        elif kind == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in _chunks(item["arguments"]):
                emit("response.function_call_arguments.delta", item_id=iid, output_index=index, delta=piece)
            emit(
                "response.function_call_arguments.done",
                item_id=iid,
                output_index=index,
                arguments=item["arguments"],
            )
        elif kind == "custom_tool_call":
            emit("response.output_item.added", output_index=index, item={**item, "input": ""})
            for piece in _chunks(item["input"]):
                emit("response.custom_tool_call_input.delta", item_id=iid, output_index=index, delta=piece)
            emit("response.custom_tool_call_input.done", item_id=iid, output_index=index, input=item["input"])
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    if fail is not None:
        failed = {**start, "status": "failed", "error": {"code": "server_error", "message": fail}}
        emit("response.failed", response=failed)
        return events
    emit(
        "response.incomplete" if status == "incomplete" else "response.completed",
        response={**final, "id": rid},
    )
    return events


# --- request checks -------------------------------------------------------------------------

KNOWN_FIELDS = {
    "background",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "client_metadata",
    "context_management",
}
ITEM_TYPES = {
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "compaction",
    "tool_search_call",
    "tool_search_output",
}
TOOL_TYPES = {
    "function",
    "custom",
    "web_search",
    "web_search_preview",
    "file_search",
    "local_shell",
    "shell",
    "apply_patch",
    "image_generation",
    "code_interpreter",
    "mcp",
    "computer_use_preview",
    "namespace",
    "tool_search",
}
USER_PARTS = {"input_text", "input_image", "input_file", "input_audio"}
ASSISTANT_PARTS = {"output_text", "refusal"}


def check_responses_request(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in body:
        if key not in KNOWN_FIELDS:
            problems.append(f"Unknown parameter: '{key}'.")
    if not isinstance(body.get("model"), str) or not body.get("model"):
        problems.append("Missing required parameter: 'model'.")
    items = body.get("input")
    calls: set[str] = set()
    if isinstance(items, list):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                problems.append(f"Invalid type for 'input[{i}]': expected an object.")
                continue
            kind = item.get("type", "message" if "role" in item else None)
            if kind not in ITEM_TYPES:
                problems.append(
                    f"Invalid value: '{kind}'. Supported values are: {', '.join(sorted(ITEM_TYPES))}."
                    f" (param: input[{i}].type)"
                )
                continue
            if kind == "message":
                role = item.get("role")
                if role not in ("user", "assistant", "system", "developer"):
                    problems.append(f"Invalid value for 'input[{i}].role': {role!r}.")
                content = item.get("content")
                allowed = ASSISTANT_PARTS if role == "assistant" else USER_PARTS
                if isinstance(content, list):
                    for j, part in enumerate(content):
                        if not isinstance(part, dict) or part.get("type") not in allowed:
                            got = part.get("type") if isinstance(part, dict) else part
                            problems.append(
                                f"Invalid value: '{got}' for 'input[{i}].content[{j}].type'"
                                f" (role {role}: {', '.join(sorted(allowed))})."
                            )
                elif not isinstance(content, str):
                    problems.append(f"Missing required parameter: 'input[{i}].content'.")
            elif kind in ("function_call", "custom_tool_call"):
                for field in ("call_id", "name"):
                    if not isinstance(item.get(field), str):
                        problems.append(f"Missing required parameter: 'input[{i}].{field}'.")
                if kind == "function_call" and not isinstance(item.get("arguments"), str):
                    problems.append(f"Missing required parameter: 'input[{i}].arguments'.")
                calls.add(str(item.get("call_id")))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                if item.get("call_id") not in calls and body.get("previous_response_id") is None:
                    problems.append(
                        f"No tool call found for function call output with call_id {item.get('call_id')}."
                    )
                if not isinstance(item.get("output"), str | list):
                    problems.append(f"Missing required parameter: 'input[{i}].output'.")
            elif kind == "reasoning" and not isinstance(item.get("summary"), list):
                problems.append(f"Missing required parameter: 'input[{i}].summary'.")
    elif not isinstance(items, str) and body.get("previous_response_id") is None:
        problems.append("Missing required parameter: 'input'.")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            problems.append("Invalid type for 'tools': expected an array.")
        else:
            for i, tool in enumerate(tools):
                kind = tool.get("type") if isinstance(tool, dict) else None
                if kind not in TOOL_TYPES:
                    problems.append(f"Invalid value: '{kind}' for 'tools[{i}].type'.")
                elif kind in ("function", "custom") and not isinstance(tool.get("name"), str):
                    problems.append(f"Missing required parameter: 'tools[{i}].name'.")
                elif kind == "function" and "function" in tool:
                    problems.append(f"Unknown parameter: 'tools[{i}].function'.")
    mot = body.get("max_output_tokens")
    if mot is not None and (not isinstance(mot, int) or isinstance(mot, bool) or mot < 16):
        problems.append(
            f"Invalid 'max_output_tokens': integer below minimum value. Expected >= 16, got {mot}."
        )
    return problems
