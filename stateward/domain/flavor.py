"""Nova flavors: the sizes a server is created with, and the rules for defining them.

A flavor is public (every project sees it) or private (only the projects on its access list and
admins). Its resources (``vcpus``, ``ram`` in MB, ``disk`` in GB) are what quotas count and what
the scheduler fits on a host. DevStack's default set is created at bootstrap.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stateward.domain.errors import InvalidInput

# Nova's limits: flavor ids/names 1-255 characters, integers within a signed 32-bit column.
MAX_INT = 2**31 - 1
ID_PATTERN = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
EXTRA_SPEC_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")


@dataclass(slots=True)
class Flavor:
    id: str  # Nova's ``flavorid``: what clients name it by (``1``, ``42``, a uuid)
    name: str
    vcpus: int
    ram: int  # MB
    disk: int  # GB
    ephemeral: int = 0  # GB
    swap: int = 0  # MB
    rxtx_factor: float = 1.0
    is_public: bool = True
    disabled: bool = False
    description: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        """What a server keeps of its flavor (Nova embeds it in the instance, 2.47's view)."""
        return {
            "id": self.id,
            "name": self.name,
            "vcpus": self.vcpus,
            "ram": self.ram,
            "disk": self.disk,
            "ephemeral": self.ephemeral,
            "swap": self.swap,
            "extra_specs": dict(self.extra_specs),
        }


# DevStack's flavors (lib/nova create_flavors, and the cirros-sized pair lib/tempest adds).
DEVSTACK_FLAVORS: tuple[tuple[str, str, int, int, int], ...] = (
    # id, name, ram MB, disk GB, vcpus
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
)


def devstack_flavors(now: datetime) -> list[Flavor]:
    return [
        Flavor(id=i, name=n, ram=ram, disk=disk, vcpus=vcpus, created_at=now)
        for i, n, ram, disk, vcpus in DEVSTACK_FLAVORS
    ]


def _int(name: str, value: Any, minimum: int) -> int:
    """Nova accepts an integer or a string of digits for flavor sizes."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"Invalid input for field/attribute {name}. Value: {value}.")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?[0-9]+\s*", value):
            raise InvalidInput(
                f"Invalid input for field/attribute {name}. Value: {value}. "
                f"'{value}' does not match '^[0-9]+$'"
            )
        value = int(value)
    if value < minimum:
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value}. "
            f"{value} is less than the minimum of {minimum}"
        )
    if value > MAX_INT:
        raise InvalidInput(
            f"Invalid input for field/attribute {name}. Value: {value}. "
            f"{value} is greater than the maximum of {MAX_INT}"
        )
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or value != value.strip():
        raise InvalidInput(
            "Invalid input for field/attribute name. Value: "
            f"{value}. It must be 1-255 characters without leading or trailing spaces"
        )
    return value


def new_flavor(body: dict[str, Any], now: datetime, *, with_description: bool) -> Flavor:
    """Validate a ``POST /flavors`` body (Nova's schema) into a Flavor."""
    allowed = {
        "name",
        "ram",
        "vcpus",
        "disk",
        "id",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    }
    if with_description:
        allowed.add("description")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"Additional properties are not allowed ('{unknown[0]}' was unexpected)")
    for key in ("name", "ram", "vcpus", "disk"):
        if key not in body:
            raise InvalidInput(
                f"Invalid input for field/attribute flavor. '{key}' is a required property"
            )
    flavor_id = body.get("id")
    if flavor_id is None:
        flavor_id = str(uuid.uuid4())
    else:
        if isinstance(flavor_id, bool) or not isinstance(flavor_id, int | str):
            raise InvalidInput(f"Invalid input for field/attribute id. Value: {flavor_id}.")
        flavor_id = str(flavor_id)
        if len(flavor_id) > 255 or not ID_PATTERN.match(flavor_id):
            raise InvalidInput(f"Invalid input for field/attribute id. Value: {flavor_id}.")
    rxtx = body.get("rxtx_factor", 1.0)
    if isinstance(rxtx, bool) or not isinstance(rxtx, int | float | str):
        raise InvalidInput(f"Invalid input for field/attribute rxtx_factor. Value: {rxtx}.")
    try:
        rxtx = float(rxtx)
    except ValueError:
        raise InvalidInput(f"Invalid input for field/attribute rxtx_factor. Value: {rxtx}.")
    if not 0 < rxtx <= 3.40282e38:
        raise InvalidInput(f"Invalid input for field/attribute rxtx_factor. Value: {rxtx}.")
    is_public = body.get("os-flavor-access:is_public", True)
    if not isinstance(is_public, bool):
        raise InvalidInput(
            f"Invalid input for field/attribute os-flavor-access:is_public. Value: {is_public}."
        )
    return Flavor(
        id=flavor_id,
        name=_name(body["name"]),
        ram=_int("ram", body["ram"], 1),
        vcpus=_int("vcpus", body["vcpus"], 1),
        disk=_int("disk", body["disk"], 0),
        ephemeral=_int("OS-FLV-EXT-DATA:ephemeral", body.get("OS-FLV-EXT-DATA:ephemeral", 0), 0),
        swap=_int("swap", body.get("swap", 0) or 0, 0),
        rxtx_factor=rxtx,
        is_public=is_public,
        description=description(body.get("description")),
        created_at=now,
    )


def description(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 65535):
        raise InvalidInput("Invalid input for field/attribute description.")
    return value


def extra_specs(value: Any) -> dict[str, str]:
    """Nova's extra-specs body: keys 1-255 of ``[a-zA-Z0-9-_:. ]``, values strings of <= 255."""
    if not isinstance(value, dict):
        raise InvalidInput("Invalid input for field/attribute extra_specs: expected an object")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not EXTRA_SPEC_KEY.match(key):
            raise InvalidInput(
                f"Invalid input for field/attribute extra_specs. Key '{key}' must be 1-255 "
                "characters of letters, digits, '-', '_', ':', '.' and spaces"
            )
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise InvalidInput(f"Invalid input for field/attribute extra_specs.{key}.")
        text = str(item)
        if len(text) > 255:
            raise InvalidInput(f"Invalid input for field/attribute extra_specs.{key}: too long")
        out[key] = text
    return out
