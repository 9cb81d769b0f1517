"""Neutron v2.0 at /networking: discovery (``root``), the generic resource controller
(``resource``) and the resources on it (``core``: networks, subnets, ports)."""

import stateward.api.networking.policies  # noqa: F401  (registers the rules)
from stateward.api.networking.core import CORE
from stateward.api.networking.root import COLLECTIONS, router

for _controller in CORE:
    _controller.install(router)
    COLLECTIONS.append((_controller.resource.name, _controller.resource.collection))

__all__ = ["router"]
