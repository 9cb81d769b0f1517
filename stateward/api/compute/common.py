"""What every Nova v2.1 resource module shares: Nova's 400, body checks, timestamps, links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from stateward.api.body import json_body
from stateward.api.urls import base_url
from stateward.domain.errors import InvalidInput


def bad(message: str) -> InvalidInput:
    return InvalidInput(message, kind="BadRequest")


def nova_ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def usec_ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


async def body(request: Request) -> Any:
    return await json_body(request)


def object_body(payload: Any, key: str, *, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{key: {...}}`` (plus the keys in ``also``), as Nova's JSON schemas require."""
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise bad(f"Invalid input for field/attribute {key}. '{key}' is a required object.")
    extra = sorted(set(payload) - {key, *also})
    if extra:
        raise bad(f"Additional properties are not allowed ('{extra[0]}' was unexpected)")
    inner: dict[str, Any] = payload[key]
    return inner


def no_extra(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")


def links(request: Request, kind: str, ident: str) -> list[dict[str, str]]:
    base = base_url(request)
    return [
        {"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/compute/{kind}/{ident}"},
    ]


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false", "off", "no", "f", "n")
