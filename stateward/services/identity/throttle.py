"""Limits on password guessing, as Keystone's lockout options do, plus a per-address limit.

* A user with ``lockout_failure_attempts`` failed authentications in a row is locked for
  ``lockout_duration`` seconds: 401 saying so, and the password is not even checked.
* A client address with ``address_failure_limit`` failures within ``address_failure_window``
  seconds gets 429 with Retry-After until the window ends, whichever user it tries.

Both counters live in the store, so the limits hold across every server process.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from prometheus_client import Counter

from stateward.config import IdentityConfig
from stateward.domain.errors import NotAuthenticated, TooManyRequests
from stateward.domain.identity import User, locked_until
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository
from stateward.store.repositories.tokens import TokenRepository

REFUSED = Counter(
    "stateward_identity_auth_refused_total",
    "Authentications refused: a wrong secret, a locked user, a throttled address",
    ["reason"],
)


class Throttle:
    def __init__(self, store: Store, config: IdentityConfig) -> None:
        self.store = store
        self.config = config

    def _window(self) -> timedelta:
        return timedelta(seconds=self.config.address_failure_window)

    async def check_address(self, address: str | None, now: datetime) -> None:
        """Refuse (429) an address that failed too often in the current window."""
        limit = self.config.address_failure_limit
        if not address or limit <= 0:
            return
        async with self.store.uow(readonly=True) as uow:
            seen = await TokenRepository(uow).address_failures(address)
        if seen is None:
            return
        count, started = seen
        ends = started + self._window()
        if count >= limit and ends > now:
            REFUSED.labels("throttled").inc()
            wait = max(1, math.ceil((ends - now).total_seconds()))
            raise TooManyRequests(
                f"Too many failed authentications from {address}; try again in {wait} seconds.",
                retry_after=wait,
            )

    def check_user(self, user: User, now: datetime) -> None:
        """Refuse (401) a user locked out by too many failures, before checking a password."""
        until = locked_until(
            user,
            attempts=self.config.lockout_failure_attempts,
            duration=self.config.lockout_duration,
            now=now,
        )
        if until is not None:
            REFUSED.labels("locked").inc()
            wait = max(1, math.ceil((until - now).total_seconds()))
            raise NotAuthenticated(
                f"The account is locked for user: {user.id} after "
                f"{user.failed_auth_count} failed authentications; try again in {wait} seconds."
            )

    async def record_failure(self, address: str | None, user: User | None, now: datetime) -> None:
        """Count a failure for the user and the address (its own transaction: the failed
        authentication itself writes nothing)."""
        REFUSED.labels("wrong_secret").inc()
        async with self.store.uow() as uow:
            if user is not None and self.config.lockout_failure_attempts > 0:
                expired = (
                    user.failed_auth_at is not None
                    and user.failed_auth_at + timedelta(seconds=self.config.lockout_duration) <= now
                )
                await IdentityRepository(uow).record_failed_auth(user.id, now, reset=expired)
            if address and self.config.address_failure_limit > 0:
                tokens = TokenRepository(uow)
                await tokens.count_address_failure(address, now, now - self._window())
            await uow.commit()
