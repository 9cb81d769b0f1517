"""The validated-token cache, and keeping it honest when tokens are revoked.

A process trusts a validated token for ``token_cache_seconds`` without asking the store. A
revocation (token delete, role removal, password change, user disabled or deleted, application
credential deleted) is written in the store first; then this process drops the matching cache
entries at once and sends a signal on the bus so every other process drops them too before it
answers with that token again. The store stays the truth: an entry dropped is simply validated
again.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from prometheus_client import Counter

from stateward.bus import Bus
from stateward.domain.identity import AuthContext

log = logging.getLogger(__name__)

SUBJECT = "identity.revoked"

ANNOUNCED = Counter(
    "stateward_identity_revocations_total",
    "Token revocations announced to every process (one per use case that took access away)",
)
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class Selector:
    """Which cached tokens a revocation concerns (every given field must match)."""

    token_hash: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    app_cred_id: str | None = None
    audit_chain_id: str | None = None

    def matches(self, key: str, ctx: AuthContext) -> bool:
        return (
            (self.token_hash is None or key == self.token_hash)
            and (self.user_id is None or ctx.user_id == self.user_id)
            and (self.project_id is None or ctx.project_id == self.project_id)
            and (self.app_cred_id is None or ctx.app_cred_id == self.app_cred_id)
            and (
                self.audit_chain_id is None
                or (ctx.audit_chain_id or ctx.audit_id) == self.audit_chain_id
            )
        )


class TokenCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[AuthContext, float]] = {}

    def get(self, key: str) -> AuthContext | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: str, ctx: AuthContext) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (ctx, time.monotonic() + self.ttl)

    def drop(self, selector: Selector) -> int:
        if selector.token_hash is not None and selector == Selector(token_hash=selector.token_hash):
            return 1 if self._entries.pop(selector.token_hash, None) else 0
        doomed = [k for k, (ctx, _) in self._entries.items() if selector.matches(k, ctx)]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def clear(self) -> None:
        self._entries.clear()


class Revocations:
    """Drops revoked tokens from this process's cache and tells the other processes."""

    def __init__(self, cache: TokenCache, bus: Bus | None) -> None:
        self.cache = cache
        self.bus = bus
        self._sub: object | None = None

    async def announce(self, *selectors: Selector) -> None:
        """Call after the revocation committed."""
        ANNOUNCED.inc()
        for selector in selectors:
            self.cache.drop(selector)
        if self.bus is None or not selectors:
            return
        payload = json.dumps([asdict(s) for s in selectors]).encode()
        try:
            await self.bus.send(SUBJECT, payload)
        except Exception:
            # The other processes' entries expire within token_cache_seconds at worst.
            log.warning("could not announce a token revocation on the bus", exc_info=True)

    async def _on_signal(self, _subject: str, data: bytes) -> None:
        try:
            selectors = [Selector(**item) for item in json.loads(data)]
        except (ValueError, TypeError):
            log.warning("malformed revocation signal ignored")
            return
        for selector in selectors:
            self.cache.drop(selector)

    async def start(self) -> None:
        if self.bus is not None:
            self._sub = await self.bus.listen(SUBJECT, self._on_signal)

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()  # type: ignore[attr-defined]
