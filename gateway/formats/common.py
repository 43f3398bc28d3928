"""Small helpers the format modules share: request checks and token counts."""

from __future__ import annotations

from typing import Any

from gateway.errors import ClientError


def nonneg(value: Any) -> int:
    """A token count from a usage field that may be missing, null, negative or junk."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def require(cond: bool, message: str, param: str) -> None:
    if not cond:
        raise ClientError(message, param=param)


def require_model(body: dict[str, Any]) -> None:
    # runs on every request: the f-string messages are built only when a check fails
    model = body.get("model")
    require("model" in body, "Missing required field 'model'.", "model")
    if not (isinstance(model, str) and model.strip()):
        raise ClientError(f"'model' must be a non-empty string, got {kind(model)}.", param="model")


def error_message(obj: Any, fallback: str) -> str:
    """The human message of an error payload: `error.message`, `error` as text, or `message`."""
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(obj.get("message"), str):
            return str(obj["message"])
    return fallback[:500] or "the provider reported an error"
