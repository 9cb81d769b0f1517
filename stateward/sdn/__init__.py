"""SDN controller backends the journal syncs to (OpenDaylight's Neutron northbound first)."""

from stateward.sdn.backend import (
    ControllerBackend,
    ControllerError,
    ControllerUnavailable,
    create_backend,
)

__all__ = ["ControllerBackend", "ControllerError", "ControllerUnavailable", "create_backend"]
