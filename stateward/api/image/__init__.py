"""Glance v2 at /image: version discovery, schemas, images (metadata and data), members."""

from stateward.api.image import images, members, schemas

routers = [schemas.router, images.router, members.router]

__all__ = ["routers"]
