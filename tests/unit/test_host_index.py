"""The inspector's in-memory host index follows notifications."""

from __future__ import annotations


async def test_host_index_follows_instance_and_port_events() -> None:
    from stateward.domain.events import Envelope
    from stateward.services.inspector import HostIndex

    index = HostIndex()

    def ev(kind: str, **traits: object) -> Envelope:
        return Envelope(event_type=kind, publisher_id="t", traits=dict(traits))

    await index.on_event(
        ev("compute.instance.create.end", instance_id="s1", host="h1", tenant_id="p")
    )
    await index.on_event(ev("compute.instance.update", instance_id="s1", host="h1", state="error"))
    await index.on_event(ev("port.create.end", port_id="p1", host="h1", tenant_id="p"))
    await index.on_event(ev("port.create.end", port_id="p2", host="", tenant_id="p"))
    assert (index.server_ids("h1"), index.port_ids("h1")) == (["s1"], ["p1"])
    await index.on_event(ev("port.update.end", port_id="p1", host="h2", tenant_id="p"))
    assert (index.port_ids("h1"), index.port_ids("h2")) == ([], ["p1"])
    await index.on_event(ev("compute.instance.delete.end", instance_id="s1", host="h1"))
    await index.on_event(ev("port.delete.end", port_id="p1", host="h2"))
    assert index.server_ids("h1") == [] and index.port_ids("h2") == []
