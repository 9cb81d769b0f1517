"""Neutron-style list queries: repeated ``fields=``, equality filters, limit/marker paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from stateward.api.urls import base_url
from stateward.domain.errors import InvalidInput

PAGING_KEYS = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}


@dataclass
class ListQuery:
    fields: list[str]
    filters: dict[str, list[Any]]
    limit: int | None
    marker: str | None


def parse_list_query(
    request: Request, filterable: Mapping[str, Callable[[str], Any]], *, ignored: Iterable[str] = ()
) -> ListQuery:
    """Read the query string; an unknown filter is a 400, as Neutron's filter validation does."""
    params = request.query_params
    filters: dict[str, list[Any]] = {}
    skip = PAGING_KEYS | set(ignored)
    for key in params:
        if key in skip or key in filters:
            continue
        if key not in filterable:
            raise InvalidInput(f"{key} is an invalid filter", kind="HTTPBadRequest")
        convert = filterable[key]
        try:
            filters[key] = [convert(v) for v in params.getlist(key)]
        except ValueError:
            raise InvalidInput(f"Invalid value for filter {key}")
    limit = None
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise InvalidInput(f"Bad limit request: '{params['limit']}' is not an integer")
        if limit < 0:
            raise InvalidInput("Bad limit request: limit must be a positive integer")
        limit = limit or None
    fields = [f for value in params.getlist("fields") for f in value.split(",") if f]
    return ListQuery(fields, filters, limit, params.get("marker"))


def to_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError(value)
    return lowered in ("true", "1")


def to_int(value: str) -> int:
    return int(value)


def select_fields(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in fields} if fields else item


def list_response(
    request: Request, collection: str, items: list[dict[str, Any]], query: ListQuery
) -> dict[str, Any]:
    body: dict[str, Any] = {collection: [select_fields(i, query.fields) for i in items]}
    if query.limit and len(items) == query.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        params.append(("marker", items[-1]["id"]))
        href = f"{base_url(request)}{request.url.path}?{urlencode(params)}"
        body[f"{collection}_links"] = [{"rel": "next", "href": href}]
    return body
