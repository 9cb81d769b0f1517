"""Neutron's core resources as use cases: networks, subnets and ports.

Each resource has its module (``networks``, ``subnets``, ``ports``; addresses and MACs in
``ipam``), its view in ``views`` and its notification in ``events``; ``NetworkService`` holds
one use-case object per resource for the runtime.
"""

from stateward.services.network.base import Filters, ResourceUseCases, not_found
from stateward.services.network.events import PUBLISHER, port_traits, resource_event
from stateward.services.network.ports import BindingCheck
from stateward.services.network.service import NetworkService
from stateward.services.network.views import network_view, neutron_time, port_view, subnet_view

__all__ = [
    "PUBLISHER",
    "BindingCheck",
    "Filters",
    "NetworkService",
    "ResourceUseCases",
    "network_view",
    "neutron_time",
    "not_found",
    "port_traits",
    "port_view",
    "resource_event",
    "subnet_view",
]
