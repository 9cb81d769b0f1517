"""SDN controller backends the journal syncs to (OpenDaylight's Neutron northbound first)."""

from stateward.sdn.backend import (
    ControllerBackend,
    ControllerError,
    ControllerUnauthorized,
    ControllerUnavailable,
    create_backend,
)

__all__ = [
    "ControllerBackend",
    "ControllerError",
    "ControllerUnauthorized",
    "ControllerUnavailable",
    "create_backend",
]
