"""Neutron v2.0 at /networking: versions, extensions, networks, subnets, ports."""

from stateward.api.networking.router import router

__all__ = ["router"]
