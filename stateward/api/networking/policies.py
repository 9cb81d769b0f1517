"""Default policy rules for the networking API (Neutron's names and defaults)."""

from stateward.identity.policy import register, rule

register(
    [
        rule("create_network", "rule:admin_or_member"),
        rule("get_network", "rule:admin_or_reader or field:networks:shared=True"),
        rule("update_network", "rule:admin_or_member"),
        rule("delete_network", "rule:admin_or_member"),
        rule("create_network:shared", "rule:admin"),
        rule("create_network:router:external", "rule:admin"),
        rule("create_network:provider:network_type", "rule:admin"),
        rule("create_network:provider:physical_network", "rule:admin"),
        rule("create_network:provider:segmentation_id", "rule:admin"),
        rule("update_network:shared", "rule:admin"),
        rule("update_network:router:external", "rule:admin"),
        rule("create_subnet", "rule:admin_or_member"),
        rule("get_subnet", "rule:admin_or_reader"),
        rule("update_subnet", "rule:admin_or_member"),
        rule("delete_subnet", "rule:admin_or_member"),
        rule("create_port", "rule:admin_or_member"),
        rule("get_port", "rule:admin_or_reader"),
        rule("update_port", "rule:admin_or_member or rule:service or rule:data_plane_integrator"),
        rule("delete_port", "rule:admin_or_member"),
        rule("create_port:mac_address", "rule:admin_or_member"),
        rule("create_port:binding:host_id", "rule:admin_or_service"),
        rule("create_port:binding:profile", "rule:admin_or_service"),
        rule("update_port:binding:host_id", "rule:admin_or_service"),
        rule("update_port:binding:profile", "rule:admin_or_service"),
        rule(
            "update_port:status",
            "rule:admin_or_service",
            "Port status is set by the SDN controller or a monitor (Doctor RFE).",
        ),
        rule(
            "update_port:data_plane_status",
            "rule:admin or rule:data_plane_integrator",
            "Data-plane status is set by the admin or a data-plane integrator (Doctor).",
        ),
        rule("create_port:tenant_id", "rule:admin"),
        rule("create_network:tenant_id", "rule:admin"),
        rule("create_subnet:tenant_id", "rule:admin"),
    ]
)
