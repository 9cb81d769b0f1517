"""Glance v2 images: the rules for their metadata, visibility, status and JSON-patch updates.

An image is created ``queued`` (metadata only, as Glance allows), becomes ``saving`` while its
data is uploaded and ``active`` once the data is stored with its checksum (md5) and
``os_hash_value`` (sha512). Who sees it depends on ``visibility``: ``public`` and ``community``
everyone (community ones are listed only on request), ``private`` its owner, ``shared`` its
owner and the projects it was shared with (members). Only the owner (or an admin) changes it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stateward.domain.errors import Conflict, Forbidden, InvalidInput

QUEUED = "queued"
SAVING = "saving"
ACTIVE = "active"
KILLED = "killed"
DELETED = "deleted"
DEACTIVATED = "deactivated"
STATUSES = (
    QUEUED,
    SAVING,
    ACTIVE,
    KILLED,
    DELETED,
    "pending_delete",
    DEACTIVATED,
    "uploading",
    "importing",
)

VISIBILITIES = ("public", "private", "shared", "community")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
HASH_ALGO = "sha512"

# What a client may set (besides extra properties, which are strings).
SETTABLE = {
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "tags",
}
READ_ONLY = {
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "direct_url",
    "locations",
    "stores",
}
# Extra property keys Glance keeps to itself.
RESERVED = {"deleted", "deleted_at", "location"}
PROPERTY_KEY = re.compile(r"^[^\x00-\x1f]{1,255}$")
MAX_PROPERTY_VALUE = 65535


@dataclass(slots=True)
class Image:
    id: str
    owner: str | None
    name: str | None = None
    status: str = QUEUED
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    min_ram: int = 0
    min_disk: int = 0
    disk_format: str | None = None
    container_format: str | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Member:
    image_id: str
    member: str
    status: str
    created_at: datetime
    updated_at: datetime


# visibility -----------------------------------------------------------------------------------


def can_see(image: Image, project_id: str | None, *, admin: bool, member: str | None) -> bool:
    """Whether the caller may GET the image (``member``: the caller's membership status)."""
    if admin or image.visibility in ("public", "community"):
        return True
    if project_id is not None and image.owner == project_id:
        return True
    return image.visibility == "shared" and member is not None


def check_owner(image: Image, project_id: str | None, *, admin: bool, what: str) -> None:
    if not admin and image.owner != project_id:
        raise Forbidden(f"You are not permitted to modify '{what}' on this image.")


def check_visibility_change(visibility: str, *, admin: bool) -> None:
    if visibility == "public" and not admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")


# validation -------------------------------------------------------------------------------------


def _fail(key: str, value: Any, why: str) -> InvalidInput:
    return InvalidInput(
        f"Provided object does not match schema 'image': {value!r} {why} Failed validating '{key}'"
    )


def validate_attribute(key: str, value: Any) -> Any:
    """Check one base attribute or extra property against Glance's image schema."""
    if key in READ_ONLY or key == "id":
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED:
        raise Forbidden(f"Attribute '{key}' is reserved.")
    if key == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _fail(key, value, "is not a string of at most 255 characters.")
        return value
    if key == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _fail(key, value, "is not a string of at most 255 characters.")
        return value
    if key == "visibility":
        if value not in VISIBILITIES:
            raise _fail(key, value, f"is not one of {list(VISIBILITIES)}.")
        return value
    if key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise _fail(key, value, "is not of type 'boolean'.")
        return value
    if key in ("min_ram", "min_disk"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise _fail(key, value, "is not a non-negative integer.")
        return value
    if key == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            raise _fail(key, value, f"is not one of {[None, *DISK_FORMATS]}.")
        return value
    if key == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            raise _fail(key, value, f"is not one of {[None, *CONTAINER_FORMATS]}.")
        return value
    if key == "tags":
        if not isinstance(value, list) or not all(
            isinstance(t, str) and 1 <= len(t) <= 255 for t in value
        ):
            raise _fail(key, value, "is not a list of strings of 1-255 characters.")
        if len(value) > 128:
            raise InvalidInput("Maximum number of tags exceeded (128).")
        return list(dict.fromkeys(value))
    # an extra property
    if not PROPERTY_KEY.match(key):
        raise InvalidInput(f"Invalid property name {key[:60]!r}.")
    if not isinstance(value, str):
        raise _fail(key, value, "is not of type 'string'.")
    if len(value) > MAX_PROPERTY_VALUE:
        raise InvalidInput(f"Property {key} is longer than {MAX_PROPERTY_VALUE} characters.")
    return value


def new_image(body: dict[str, Any], project_id: str | None, now: datetime, *, admin: bool) -> Image:
    """``POST /v2/images``: the new queued image (Glance's schema checks)."""
    image_id = body.pop("id", None)
    if image_id is None:
        image_id = str(uuid.uuid4())
    else:
        try:
            image_id = str(uuid.UUID(str(image_id)))
        except ValueError:
            raise InvalidInput(
                f"Provided object does not match schema 'image': id {image_id!r}"
                " does not match the uuid pattern."
            )
    owner = project_id
    if "owner" in body:
        owner = validate_attribute("owner", body.pop("owner"))
        if owner != project_id and not admin:
            raise Forbidden("You are not permitted to create images owned by another project.")
    image = Image(id=image_id, owner=owner, created_at=now, updated_at=now)
    if len(body) > 128 + len(SETTABLE):
        raise InvalidInput("Maximum number of properties exceeded (128).")
    for key, value in body.items():
        _set(image, key, validate_attribute(key, value))
    check_visibility_change(image.visibility, admin=admin)
    return image


def _set(image: Image, key: str, value: Any) -> None:
    if key in SETTABLE:
        setattr(image, key, value)
    else:
        image.properties[key] = value


# JSON patch (application/openstack-images-v2.1-json-patch) --------------------------------------


def _path_key(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{path}'")
    key = path[1:].replace("~1", "/").replace("~0", "~")
    if not key:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{path}'")
    return key


def apply_patch(image: Image, operations: Any, *, admin: bool, project_id: str | None) -> Image:
    """Apply Glance's JSON-patch subset (add, replace, remove on top-level attributes)."""
    if not isinstance(operations, list):
        raise InvalidInput("Request body must be a JSON array of operation objects.")
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise InvalidInput("Operation objects must contain exactly one member named 'op'.")
        kind = op["op"]
        key = _path_key(op["path"])
        if kind not in ("add", "replace", "remove"):
            raise InvalidInput(f"Invalid operation: `{kind}`")
        check_owner(image, project_id, admin=admin, what=key)
        if kind == "remove":
            if key in SETTABLE or key in READ_ONLY or key in ("id", "owner"):
                raise Forbidden(f"Attribute '{key}' can't be removed.")
            if key not in image.properties:
                raise Conflict(f"Property {key} does not exist.")
            del image.properties[key]
            continue
        if "value" not in op:
            raise InvalidInput(f"Operation `{kind}` requires a member named 'value'.")
        value = validate_attribute(key, op["value"])
        if (
            kind == "replace"
            and key not in SETTABLE
            and key != "owner"
            and (key not in image.properties)
        ):
            raise Conflict(f"Property {key} does not exist.")
        if key == "owner":
            if not admin:
                raise Forbidden("You are not permitted to modify 'owner' on this image.")
            image.owner = value
        elif key == "visibility":
            check_visibility_change(value, admin=admin)
            image.visibility = value
        else:
            _set(image, key, value)
    if len(image.properties) > 128:
        raise InvalidInput("Maximum number of properties exceeded (128).")
    return image


def check_upload(image: Image) -> None:
    """Data goes only into a queued image with its formats set (Glance's rules)."""
    if image.status == QUEUED and not (image.disk_format and image.container_format):
        raise InvalidInput(
            "Properties disk_format, container_format must be set prior to saving data."
        )
    if image.status != QUEUED:
        raise Conflict(
            f"Image status transition from {image.status} to {SAVING} is not allowed",
            kind="InvalidImageStatusTransition",
        )


def check_delete(image: Image) -> None:
    if image.protected:
        raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
