"""Nova v2.1 at /compute, one module per resource.

``versions``: discovery and microversions (``MicroversionHeaders`` puts the header on every
/compute response); ``services`` (os-services, mark host down); ``servers``,
``server_create``, ``server_views``, ``server_metadata``; ``flavors``; ``hypervisors``;
``quotas``
(os-quota-sets, os-quota-class-sets, limits).
"""

from stateward.api.compute import (
    flavors,
    hypervisors,
    quotas,
    server_create,
    server_metadata,
    servers,
    services,
    versions,
)
from stateward.api.compute.versions import (
    Microversion,
    MicroversionHeaders,
    requested_microversion,
)

# server_create before servers: POST /servers is not shadowed by a path parameter route
routers = [
    versions.router,
    services.router,
    server_create.router,
    servers.router,
    server_metadata.router,
    flavors.router,
    hypervisors.router,
    quotas.router,
]

__all__ = ["Microversion", "MicroversionHeaders", "requested_microversion", "routers"]
