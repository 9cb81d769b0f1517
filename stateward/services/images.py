"""Image catalog use cases (Glance v2): metadata in the store, data in the image file store.

An upload is three steps so no transaction is held open while bytes stream: ``queued`` →
``saving`` (compare-and-set: a second concurrent upload gets 409), the data written and hashed,
then ``saving`` → ``active`` with its size, checksum and ``os_hash_value``. A failed or refused
upload puts the image back to ``queued`` (as Glance does) and keeps nothing. A download streams
the stored file and checks its sha512 on the way; data that no longer matches what was recorded
is cut off (the client sees an incomplete transfer, never silently corrupt data).
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client import Counter

from stateward.domain import image as rules
from stateward.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from stateward.domain.events import Envelope, utcnow
from stateward.domain.identity import AuthContext
from stateward.domain.image import Image, Member
from stateward.store.db import Store
from stateward.store.image_files import ImageFileStore, TooLarge
from stateward.store.repositories.images import ImageRepository

log = logging.getLogger(__name__)

PUBLISHER = "image.stateward"
BYTES_IN = Counter("stateward_image_upload_bytes_total", "Image data bytes stored")
BYTES_OUT = Counter("stateward_image_download_bytes_total", "Image data bytes served")
CORRUPT = Counter(
    "stateward_image_checksum_mismatch_total", "Downloads cut off: stored data no longer matched"
)


class ImageTooLarge(DomainError):
    status = 413
    kind = "RequestEntityTooLarge"


def _not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}", kind="ImageNotFound")


def image_event(kind: str, image: Image) -> Envelope:
    return Envelope(
        event_type=f"image.{kind}",
        publisher_id=PUBLISHER,
        project_id=image.owner,
        resource_id=image.id,
        traits={
            "image_id": image.id,
            "name": image.name,
            "status": image.status,
            "visibility": image.visibility,
            "size": image.size,
            "project_id": image.owner,
            "tenant_id": image.owner,
        },
        payload={
            "id": image.id,
            "name": image.name,
            "status": image.status,
            "owner": image.owner,
            "checksum": image.checksum,
            "size": image.size,
        },
    )


@dataclass(frozen=True)
class Caller:
    project_id: str | None
    admin: bool

    @classmethod
    def of(cls, ctx: AuthContext) -> Caller:
        return cls(ctx.project_id, ctx.is_admin)


class ImageService:
    def __init__(self, store: Store, files: ImageFileStore, *, size_cap: int) -> None:
        self.store = store
        self.files = files
        self.size_cap = size_cap

    async def _visible(self, repo: ImageRepository, image_id: str, caller: Caller) -> Image:
        image = await repo.get(image_id)
        if image is None:
            raise _not_found(image_id)
        member = None
        if image.visibility == "shared" and caller.project_id and image.owner != caller.project_id:
            found = await repo.member(image.id, caller.project_id)
            member = found.status if found else None
        if not rules.can_see(image, caller.project_id, admin=caller.admin, member=member):
            raise _not_found(image_id)
        return image

    async def create(self, body: dict[str, Any], caller: Caller) -> Image:
        image = rules.new_image(dict(body), caller.project_id, utcnow(), admin=caller.admin)
        async with self.store.uow() as uow:
            if not await ImageRepository(uow).add(image):
                raise Conflict(f"Image with identifier {image.id} already exists!")
            uow.emit(image_event("create", image))
            await uow.commit()
        return image

    async def get(self, image_id: str, caller: Caller) -> Image:
        async with self.store.uow(readonly=True) as uow:
            return await self._visible(ImageRepository(uow), image_id, caller)

    async def list(self, caller: Caller, **query: Any) -> builtins.list[Image]:
        async with self.store.uow(readonly=True) as uow:
            repo = ImageRepository(uow)
            marker = None
            if query.get("marker"):
                marker = await repo.get(query["marker"])
                if marker is None:
                    raise _not_found(query["marker"])
            query["marker"] = marker
            return await repo.find(project_id=caller.project_id, admin=caller.admin, **query)

    async def update(self, image_id: str, operations: Any, caller: Caller) -> Image:
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            image = rules.apply_patch(
                replace(image, tags=list(image.tags), properties=dict(image.properties)),
                operations,
                admin=caller.admin,
                project_id=caller.project_id,
            )
            image.updated_at = utcnow()
            await repo.save(image)
            uow.emit(image_event("update", image))
            await uow.commit()
        return image

    async def tag(self, image_id: str, tag: str, caller: Caller, *, add: bool) -> Image:
        """Add or remove one tag, in one transaction (Glance's PUT/DELETE .../tags/{tag})."""
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            rules.check_owner(image, caller.project_id, admin=caller.admin, what="tags")
            if add:
                image.tags = rules.validate_attribute("tags", [*image.tags, tag])
            elif tag in image.tags:
                image.tags = [t for t in image.tags if t != tag]
            else:
                raise NotFound(f"Tag {tag} not found on image {image_id}")
            image.updated_at = utcnow()
            await repo.save(image)
            uow.emit(image_event("update", image))
            await uow.commit()
        return image

    async def delete(self, image_id: str, caller: Caller) -> None:
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            rules.check_owner(image, caller.project_id, admin=caller.admin, what="status")
            rules.check_delete(image)
            await repo.delete(image.id)
            image.status = rules.DELETED
            uow.emit(image_event("delete", image))
            await uow.commit()
        if image.location:
            await self.files.delete(image.location)

    async def set_active(self, image_id: str, active: bool, caller: Caller) -> Image:
        """Glance's deactivate/reactivate (admin): data downloads stop for everyone else."""
        old, new = (
            (rules.DEACTIVATED, rules.ACTIVE) if active else (rules.ACTIVE, rules.DEACTIVATED)
        )
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            if image.status != new and not await repo.set_status(
                image.id, old, new, updated_at=utcnow()
            ):
                raise Forbidden(
                    f"Not allowed to {'re' if active else 'de'}activate an image "
                    f"in status '{image.status}'"
                )
            image = await repo.get(image.id) or image
            uow.emit(image_event("update", image))
            await uow.commit()
        return image

    # data ----------------------------------------------------------------------------------
    async def upload(self, image_id: str, data: AsyncIterator[bytes], caller: Caller) -> Image:
        now = utcnow()
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            rules.check_owner(image, caller.project_id, admin=caller.admin, what="data")
            rules.check_upload(image)
            if not await repo.set_status(image.id, rules.QUEUED, rules.SAVING, updated_at=now):
                raise Conflict(
                    f"Image status transition from {rules.SAVING} to {rules.SAVING} is not allowed",
                    kind="InvalidImageStatusTransition",
                )
            await uow.commit()
        try:
            stored = await self.files.write(image.id, data, limit=self.size_cap)
        except BaseException as exc:
            await self._back_to_queued(image.id)
            if isinstance(exc, TooLarge):
                raise ImageTooLarge(str(exc)) from None
            raise
        BYTES_IN.inc(stored.size)
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            done = await repo.set_status(
                image.id,
                rules.SAVING,
                rules.ACTIVE,
                size=stored.size,
                checksum=stored.md5,
                os_hash_algo=rules.HASH_ALGO,
                os_hash_value=stored.os_hash_value,
                location=stored.location,
                updated_at=utcnow(),
            )
            saved = await repo.get(image.id) if done else None
            if saved is not None:
                uow.emit(image_event("upload", saved))
                await uow.commit()
        if saved is None:  # deleted while it was uploading
            await self.files.delete(stored.location)
            raise Conflict(f"Image {image_id} was deleted during the upload.")
        return saved

    async def _back_to_queued(self, image_id: str) -> None:
        async with self.store.uow() as uow:
            await ImageRepository(uow).set_status(
                image_id, rules.SAVING, rules.QUEUED, updated_at=utcnow()
            )
            await uow.commit()

    async def download(self, image_id: str, caller: Caller) -> tuple[Image, AsyncIterator[bytes]]:
        """The image and its data (verified while it streams); 204 when there is none."""
        image = await self.get(image_id, caller)
        if image.status == rules.DEACTIVATED and not caller.admin:
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if not image.location or not self.files.exists(image.location):
            raise NoData(f"Image {image_id} has no data.")
        return image, self._verified(image)

    async def _verified(self, image: Image) -> AsyncIterator[bytes]:
        assert image.location is not None
        sha = hashlib.new(rules.HASH_ALGO)
        size = 0
        held: bytes | None = None  # the last chunk waits until the whole file is checked
        async for chunk in self.files.read(image.location):
            sha.update(chunk)
            size += len(chunk)
            if held is not None:
                BYTES_OUT.inc(len(held))
                yield held
            held = chunk
        if size != image.size or sha.hexdigest() != image.os_hash_value:
            CORRUPT.inc()
            log.error("image data does not match its recorded hash", extra={"image": image.id})
            raise IntegrityFailure(f"Image {image.id}: stored data does not match its checksum")
        if held is not None:
            BYTES_OUT.inc(len(held))
            yield held

    # members -------------------------------------------------------------------------------
    async def members(self, image_id: str, caller: Caller) -> builtins.list[Member]:
        async with self.store.uow(readonly=True) as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            if image.visibility != "shared":
                raise Forbidden("Only shared images have members.")
            members = await repo.members(image.id)
        if caller.admin or image.owner == caller.project_id:
            return members
        return [m for m in members if m.member == caller.project_id]

    async def member(self, image_id: str, member_id: str, caller: Caller) -> Member:
        for member in await self.members(image_id, caller):
            if member.member == member_id:
                return member
        raise NotFound(f"{member_id} is not a member of image {image_id}")

    async def add_member(self, image_id: str, member_id: str, caller: Caller) -> Member:
        if not isinstance(member_id, str) or not 1 <= len(member_id) <= 255:
            raise InvalidInput("Invalid member: a project id is required.")
        now = utcnow()
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            if not caller.admin and image.owner != caller.project_id:
                raise Forbidden("You are not permitted to create image members for the image.")
            if image.visibility != "shared":
                raise Forbidden("Only shared images have members.")
            if await repo.member(image.id, member_id) is not None:
                raise Conflict(f"Member {member_id} already exists for image {image_id}")
            member = Member(image.id, member_id, "pending", now, now)
            await repo.add_member(member)
            uow.emit(image_event("member.create", image))
            await uow.commit()
        return member

    async def set_member_status(
        self, image_id: str, member_id: str, status: Any, caller: Caller
    ) -> Member:
        if status not in rules.MEMBER_STATUSES:
            raise InvalidInput(
                f"Provided object does not match schema 'member': {status!r} is "
                f"not one of {list(rules.MEMBER_STATUSES)}"
            )
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            member = await repo.member(image.id, member_id)
            if member is None:
                raise NotFound(f"{member_id} is not a member of image {image_id}")
            if caller.project_id != member_id:
                raise Forbidden("You are not permitted to modify 'status' on this image member.")
            member = replace(member, status=status, updated_at=utcnow())
            await repo.update_member(member)
            uow.emit(image_event("member.update", image))
            await uow.commit()
        return member

    async def delete_member(self, image_id: str, member_id: str, caller: Caller) -> None:
        async with self.store.uow() as uow:
            repo = ImageRepository(uow)
            image = await self._visible(repo, image_id, caller)
            if not caller.admin and image.owner != caller.project_id:
                raise Forbidden("You are not permitted to delete image members for the image.")
            if not await repo.delete_member(image.id, member_id):
                raise NotFound(f"{member_id} is not a member of image {image_id}")
            uow.emit(image_event("member.delete", image))
            await uow.commit()


class NoData(DomainError):
    """No data has been uploaded (Glance answers 204 No Content)."""

    status = 204
    kind = "NoContent"


class IntegrityFailure(Exception):
    """Raised mid-stream: the connection is dropped rather than finishing a corrupt download."""
