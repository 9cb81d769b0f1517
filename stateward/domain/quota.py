"""Quotas: one set of rules for every service's limits (Nova, Neutron, Aodh).

A limit is an integer; ``-1`` means unlimited. A project's limit for a resource is, first found:
its own value, the ``default`` quota class (Nova's os-quota-class-sets), the configured default,
the resource's registered default. A user's limit (Nova's per-user quotas, Aodh's user alarm
quota) falls back to the project's. Usage is counted, not tracked (Nova's counting quotas since
Pike), inside the transaction that changes it, so a limit holds across processes.

Each service answers an exceeded limit in its own words: Nova 403 ``TooManyInstances``, Neutron
409 ``OverQuota``, Aodh 403 "Alarm quota exceeded".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stateward.domain.errors import Conflict, DomainError, Forbidden, InvalidInput

UNLIMITED = -1
MAX_LIMIT = 2**31 - 1
DEFAULT_CLASS = "default"

Service = Literal["compute", "network", "alarming"]


@dataclass(frozen=True, slots=True)
class QuotaResource:
    """A countable thing with a limit. ``per_user``: a user-level limit may also apply."""

    name: str
    service: Service
    default: int
    per_user: bool = False
    # Nova's legacy entries (fixed_ips, ...): shown at old microversions, never counted.
    counted: bool = True


def parse_limit(resource: str, value: Any) -> int:
    """A limit from a request body: an integer (or a string of one) from -1 up."""
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid input for field/attribute {resource}. Value: {value}.")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInput(
                f"Invalid input for field/attribute {resource}. Value: {value}. "
                f"'{value}' is not an integer"
            ) from None
    if not isinstance(value, int):
        raise InvalidInput(
            f"Invalid input for field/attribute {resource}. Value: {value}. "
            f"{value!r} is not of type 'integer'"
        )
    if not UNLIMITED <= value <= MAX_LIMIT:
        raise InvalidInput(
            f"Invalid input for field/attribute {resource}. Value: {value}. "
            f"It must be between -1 and {MAX_LIMIT}"
        )
    return value


def within(limit: int, used: int) -> bool:
    return limit == UNLIMITED or used <= limit


def check_new_limit(resource: str, limit: int, used: int) -> None:
    """Lowering a limit below what is in use needs ``force`` (Nova's and Neutron's rule)."""
    if limit != UNLIMITED and limit < used:
        raise InvalidInput(
            f"Quota limit {limit} for {resource} must be greater than or equal to already "
            f"used and reserved {used}."
        )


def check_user_limit(resource: str, limit: int, project_limit: int) -> None:
    """A user's limit may not exceed the project's (Nova)."""
    if project_limit != UNLIMITED and (limit == UNLIMITED or limit > project_limit):
        raise InvalidInput(
            f"Quota limit {limit} for {resource} must be less than or equal to {project_limit}."
        )


@dataclass(frozen=True, slots=True)
class Over:
    """One limit a change went over: ``used`` already, ``requested`` by this change."""

    resource: str
    requested: int
    used: int
    allowed: int


def exceeded(
    service: Service, overs: list[Over], *, project_id: str, user_id: str | None
) -> DomainError:
    """The error the service whose limit was exceeded answers with."""
    overs = sorted(overs, key=lambda o: o.resource)
    if service == "network":
        listed = [o.resource for o in overs]
        return Conflict(f"Quota exceeded for resources: {listed}.", kind="OverQuota")
    if service == "alarming":
        return Forbidden(f"Alarm quota exceeded for user {user_id} on project {project_id}")
    # Nova's TooManyInstances (get_over_quota_detail joins the lists with ', ')
    names = ", ".join(o.resource for o in overs)
    return Forbidden(
        f"Quota exceeded for {names}: Requested {', '.join(str(o.requested) for o in overs)}, "
        f"but already used {', '.join(str(o.used) for o in overs)} of "
        f"{', '.join(str(o.allowed) for o in overs)} {names}",
        kind="TooManyInstances",
    )


def effective(
    resource: QuotaResource,
    own: Mapping[str, int],
    klass: Mapping[str, int],
    configured: Mapping[str, int],
) -> int:
    """A project's limit for ``resource``: its own, else the default class, config, built-in."""
    for source in (own, klass, configured):
        if resource.name in source:
            return source[resource.name]
    return resource.default
