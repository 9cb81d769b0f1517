"""The network use cases of one process: one object per Neutron resource."""

from __future__ import annotations

from stateward.config import NetworkConfig
from stateward.services.network.networks import Networks
from stateward.services.network.ports import BindingCheck, Ports
from stateward.services.network.subnets import Subnets
from stateward.store.db import Store


class NetworkService:
    """``networks``, ``subnets`` and ``ports`` each offer the generic resource use cases
    (``create``/``get``/``list``/``update``/``delete``, see ``base.ResourceUseCases``)."""

    def __init__(
        self,
        store: Store,
        config: NetworkConfig,
        binding_check: BindingCheck | None = None,
        refuse_dead_binding: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.networks = Networks(store, config)
        self.subnets = Subnets(store)
        self.ports = Ports(store, config, binding_check, refuse_dead_binding)
