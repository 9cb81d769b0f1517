"""Pure rules of the compute catalog: flavors, quotas, the scheduler's filters and weighers,
and Glance's image metadata and JSON patch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stateward.domain import flavor as flavors
from stateward.domain import image as images
from stateward.domain import quota
from stateward.domain import scheduler as sched
from stateward.domain.errors import Conflict, Forbidden, InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


# flavors ----------------------------------------------------------------------------------------


def test_devstack_flavors_are_the_ones_tempest_and_doctor_look_for() -> None:
    made = {f.name: (f.id, f.ram, f.disk, f.vcpus) for f in flavors.devstack_flavors(NOW)}
    assert made["m1.tiny"] == ("1", 512, 1, 1)
    assert made["m1.xlarge"] == ("5", 16384, 160, 8)
    assert made["m1.nano"][0] == "42" and made["m1.micro"][0] == "84"


def test_flavor_body_is_checked_like_novas_schema() -> None:
    f = flavors.new_flavor(
        {"name": "x", "ram": "64", "vcpus": 2, "disk": 0}, NOW, with_description=False
    )
    assert (f.ram, f.vcpus, f.disk, f.is_public, f.swap) == (64, 2, 0, True, 0)
    assert len(f.id) == 36  # a uuid when no id is given
    for bad in (
        {"name": " x", "ram": 1, "vcpus": 1, "disk": 0},
        {"name": "x", "ram": 0, "vcpus": 1, "disk": 0},
        {"name": "x", "ram": 1, "vcpus": True, "disk": 0},
        {"name": "x", "ram": 2**31, "vcpus": 1, "disk": 0},
        {"name": "x", "ram": 1, "vcpus": 1},
        {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "a/b"},
        {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"},  # before 2.55
    ):
        with pytest.raises(InvalidInput):
            flavors.new_flavor(bad, NOW, with_description=False)
    with pytest.raises(InvalidInput):
        flavors.extra_specs({"bad/key": "1"})
    assert flavors.extra_specs({"hw:cpu_policy": "dedicated", "n": 2}) == {
        "hw:cpu_policy": "dedicated",
        "n": "2",
    }


# quotas -----------------------------------------------------------------------------------------


def test_limits_resolve_own_then_class_then_config_then_builtin() -> None:
    r = quota.QuotaResource("instances", "compute", 10)
    assert quota.effective(r, {}, {}, {}) == 10
    assert quota.effective(r, {}, {}, {"instances": 20}) == 20
    assert quota.effective(r, {}, {"instances": 30}, {"instances": 20}) == 30
    assert quota.effective(r, {"instances": -1}, {"instances": 30}, {}) == -1


def test_each_service_says_over_quota_in_its_own_words() -> None:
    over = [quota.Over("instances", 1, 10, 10)]
    nova = quota.exceeded("compute", over, project_id="p", user_id="u")
    assert isinstance(nova, Forbidden)
    assert nova.message == (
        "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"
    )
    two = quota.exceeded(
        "compute", [quota.Over("ram", 512, 51200, 51200), *over], project_id="p", user_id=None
    )
    assert two.message.startswith("Quota exceeded for instances, ram: Requested 1, 512")
    neutron = quota.exceeded("network", [quota.Over("port", 1, 5, 5)], project_id="p", user_id=None)
    assert isinstance(neutron, Conflict) and neutron.kind == "OverQuota"
    assert neutron.message == "Quota exceeded for resources: ['port']."
    aodh = quota.exceeded("alarming", [quota.Over("alarms", 1, 2, 2)], project_id="p", user_id="u")
    assert aodh.status == 403
    assert aodh.message == "Alarm quota exceeded for user u on project p"


def test_limit_values_and_lowering_below_usage() -> None:
    assert quota.parse_limit("x", "5") == 5
    assert quota.parse_limit("x", -1) == -1
    for bad in (-2, True, 1.5, "many", 2**31):
        with pytest.raises(InvalidInput):
            quota.parse_limit("x", bad)
    quota.check_new_limit("instances", -1, 100)
    with pytest.raises(InvalidInput, match="greater than or equal to already used"):
        quota.check_new_limit("instances", 2, 3)
    with pytest.raises(InvalidInput, match="less than or equal to 10"):
        quota.check_user_limit("instances", 11, 10)


# scheduler -------------------------------------------------------------------------------------


def _host(name: str, **kw: object) -> sched.HostState:
    values: dict[str, object] = {"zone": "nova", "enabled": True, "up": True, "capacity": None}
    values.update(kw)
    return sched.HostState(name, **values)  # type: ignore[arg-type]


def test_filters_drop_hosts_that_cannot_take_the_server() -> None:
    ratios = sched.Ratios(cpu=1.0, ram=1.0, disk=1.0, reserved_memory_mb=0)
    wanted = sched.Resources(1, 512, 1)
    hosts = [
        _host("ok"),
        _host("other-zone", zone="az2"),
        _host("disabled", enabled=False),
        _host("down", up=False),
        _host("full", capacity=sched.Resources(1, 1024, 10), used=sched.Resources(1, 0, 0)),
        _host("roomy", capacity=sched.Resources(2, 1024, 10), used=sched.Resources(1, 512, 1)),
    ]
    assert [h.host for h in sched.filter_hosts(hosts, wanted, "nova", ratios)] == ["ok", "roomy"]
    assert [h.host for h in sched.filter_hosts(hosts, wanted, "az2", ratios)] == ["other-zone"]
    # allocation ratios and reserved memory change what fits
    full = hosts[4]
    assert sched.fits(full, wanted, sched.Ratios(cpu=4.0, reserved_memory_mb=0))
    assert not sched.fits(full, wanted, sched.Ratios(cpu=4.0, reserved_memory_mb=600))


def test_weighers_spread_servers_then_prefer_free_ram() -> None:
    ratios = sched.Ratios(reserved_memory_mb=0)
    hosts = [
        _host("b", servers=1),
        _host("c", servers=0, capacity=sched.Resources(8, 1024, 10)),
        _host("a", servers=0, capacity=sched.Resources(8, 4096, 10)),
        _host("d", servers=0),
    ]
    assert [h.host for h in sched.weigh(hosts, ratios)] == ["a", "c", "d", "b"]
    assert sched.capacity_of({"vcpus": "4", "memory_mb": "8192", "disk_gb": "80"}) == (
        sched.Resources(4, 8192, 80)
    )
    assert sched.capacity_of({"vcpus": "4"}) is None


# images -----------------------------------------------------------------------------------------


def test_new_image_is_queued_with_glances_defaults_and_checks() -> None:
    image = images.new_image({"name": "cirros", "hw_rng": "yes"}, "p1", NOW, admin=False)
    assert (image.status, image.visibility, image.owner) == ("queued", "shared", "p1")
    assert image.properties == {"hw_rng": "yes"}
    with pytest.raises(Forbidden, match="read-only"):
        images.new_image({"status": "active"}, "p1", NOW, admin=False)
    with pytest.raises(Forbidden, match="publicize_image"):
        images.new_image({"visibility": "public"}, "p1", NOW, admin=False)
    with pytest.raises(InvalidInput):
        images.new_image({"disk_format": "exe"}, "p1", NOW, admin=False)
    with pytest.raises(InvalidInput):
        images.new_image({"extra": 5}, "p1", NOW, admin=False)
    assert images.new_image({"visibility": "public"}, "p1", NOW, admin=True).visibility == "public"


def test_json_patch_changes_only_what_the_owner_may() -> None:
    image = images.new_image({"name": "a", "k": "v"}, "p1", NOW, admin=False)
    ops = [
        {"op": "replace", "path": "/name", "value": "b"},
        {"op": "add", "path": "/os_distro", "value": "cirros"},
        {"op": "remove", "path": "/k"},
        {"op": "replace", "path": "/tags", "value": ["x", "x", "y"]},
    ]
    images.apply_patch(image, ops, admin=False, project_id="p1")
    assert (image.name, image.properties, image.tags) == ("b", {"os_distro": "cirros"}, ["x", "y"])
    with pytest.raises(Forbidden, match="not permitted"):
        images.apply_patch(image, ops[:1], admin=False, project_id="p2")
    with pytest.raises(Conflict):
        images.apply_patch(image, [{"op": "remove", "path": "/nope"}], admin=False, project_id="p1")
    with pytest.raises(Forbidden):
        images.apply_patch(
            image, [{"op": "replace", "path": "/size", "value": 1}], admin=True, project_id="p1"
        )
    with pytest.raises(InvalidInput):
        images.apply_patch(image, [{"op": "move", "path": "/name"}], admin=True, project_id="p1")


def test_who_sees_an_image() -> None:
    def image(visibility: str) -> images.Image:
        return images.Image(id="i", owner="owner", visibility=visibility)

    assert images.can_see(image("public"), "x", admin=False, member=None)
    assert images.can_see(image("community"), "x", admin=False, member=None)
    assert not images.can_see(image("private"), "x", admin=False, member=None)
    assert images.can_see(image("private"), "owner", admin=False, member=None)
    assert not images.can_see(image("shared"), "x", admin=False, member=None)
    assert images.can_see(image("shared"), "x", admin=False, member="pending")
    assert images.can_see(image("private"), "x", admin=True, member=None)
    queued = images.Image(id="i", owner="o")
    with pytest.raises(InvalidInput, match="disk_format"):
        images.check_upload(queued)
    active = images.Image(
        id="i", owner="o", status="active", disk_format="raw", container_format="bare"
    )
    with pytest.raises(Conflict, match="active to saving"):
        images.check_upload(active)
