"""Request bodies, validated at the edge the way Neutron's attribute maps do it.

The converters here check one value and return it converted (``is_string(255)``,
``is_bool``...); Neutron's attribute maps (``api/networking/resource.py``) are built from them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Request

from stateward.domain.errors import InvalidInput

Converter = Callable[[str, Any], Any]


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidInput("Request body is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Malformed request body: the body is not valid JSON.")


def resource_body(payload: Any, key: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or key not in payload:
        raise InvalidInput(f"Resource body required: expected an object with key '{key}'.")
    if len(payload) != 1:
        extra = sorted(k for k in payload if k != key)
        raise InvalidInput(f"Unrecognized attribute(s) '{', '.join(extra)}'")
    body = payload[key]
    if not isinstance(body, dict):
        raise InvalidInput(f"Invalid input: '{key}' must be an object.")
    return body


def is_string(max_len: int = 255) -> Converter:
    def convert(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidInput(
                f"Invalid input for {name}. Reason: '{value}' is not a valid string."
            )
        if len(value) > max_len:
            raise InvalidInput(
                f"Invalid input for {name}. Reason: '{value[:40]}...' exceeds "
                f"maximum length of {max_len}."
            )
        return value

    return convert


def is_nullable_string(max_len: int = 255) -> Converter:
    inner = is_string(max_len)
    return lambda name, value: None if value is None else inner(name, value)


def is_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(
        f"Invalid input for {name}. Reason: '{value}' cannot be converted to boolean."
    )


def is_int(lo: int | None = None, hi: int | None = None, nullable: bool = False) -> Converter:
    def convert(name: str, value: Any) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool):
            raise InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not an integer.")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not an integer.")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise InvalidInput(f"Invalid input for {name}. Reason: '{number}' is out of range.")
        return number

    return convert


def is_uuid(name: str, value: Any) -> str:
    try:
        return str(uuid.UUID(str(value))) if isinstance(value, str) else _bad_uuid(name, value)
    except ValueError:
        return _bad_uuid(name, value)


def _bad_uuid(name: str, value: Any) -> str:
    raise InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not a valid UUID.")


def is_project_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(
            f"Invalid input for {name}. Reason: '{value}' is not a valid project id."
        )
    return value


def is_dict(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not a dictionary.")
    return value


def is_list_of(item: Converter) -> Converter:
    def convert(name: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not a list.")
        return [item(name, v) for v in value]

    return convert


def one_of(*choices: Any, nullable: bool = False) -> Converter:
    def convert(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if value not in choices:
            raise InvalidInput(
                f"Invalid input for {name}. Reason: '{value}' is not in {[c for c in choices]}."
            )
        return value

    return convert


def anything(_name: str, value: Any) -> Any:
    return value
