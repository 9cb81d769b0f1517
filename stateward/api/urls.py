"""Public URLs: what the catalog and version documents point clients at."""

from __future__ import annotations

from fastapi import Request


def base_url(request: Request) -> str:
    """The configured public URL, else the one the client reached us on (no trailing slash)."""
    configured = request.app.state.runtime.settings.server.public_url
    return (configured or str(request.base_url)).rstrip("/")
