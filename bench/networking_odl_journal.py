"""networking-odl 22's own journal, draining the same shape of work to the controller shim.

Run with a separate environment that has networking-odl installed (it pulls in neutron; it
must not go into Stateward's), e.g.::

    python3 -m venv /tmp/odl-venv && /tmp/odl-venv/bin/pip install networking-odl==22.0.0
    /tmp/odl-venv/bin/python bench/networking_odl_journal.py --shim http://127.0.0.1:PORT

``bench/journal.py --networking-odl /tmp/odl-venv/bin/python`` runs it in the same run as
Stateward and the in-order baseline. The journal is networking-odl's: ``journal.record``
(with its dependency calculation) on SQLite through neutron-lib's enginefacade, and
``OpenDaylightJournalThread.sync_pending_entries`` with its REST client (``requests``). One
adaptation: its row picker (``get_oldest_pending_db_row_with_lock``) uses a baked query with
``outerjoin(..., aliased=True)``, which SQLAlchemy 2 removed; it is replaced by the same
query written for SQLAlchemy 2 (oldest ``last_retried`` pending row none of whose
dependencies is pending or processing, then marked processing).

Prints one JSON line: rows, seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shim", required=True)
    parser.add_argument("--networks", type=int, default=50)
    parser.add_argument("--ports", type=int, default=500)
    parser.add_argument("--updates", type=int, default=1)
    args = parser.parse_args()

    from networking_odl.common import config as odl_config  # noqa: F401  (registers ml2_odl)
    from networking_odl.common import constants as odl_const
    from networking_odl.db import db, models
    from networking_odl.journal import journal
    from neutron_lib import context as nl_context
    from neutron_lib.db import api as db_api
    from oslo_config import cfg
    from oslo_db import options as db_options

    logging.disable(logging.CRITICAL)
    tmp = Path(tempfile.mkdtemp(prefix="odl-journal-"))
    db_options.set_defaults(cfg.CONF, connection=f"sqlite:///{tmp / 'odl.db'}")
    cfg.CONF([], project="bench")
    cfg.CONF.set_override("url", args.shim.rstrip("/") + "/controller/nb/v2/neutron", "ml2_odl")
    cfg.CONF.set_override("username", "admin", "ml2_odl")
    cfg.CONF.set_override("password", "admin", "ml2_odl")

    engine = db_api.CONTEXT_WRITER.get_engine()
    models.OpenDaylightJournal.__table__.create(engine)
    models.journal_dependencies.create(engine)

    def oldest_pending_with_lock(context: Any) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.orm import aliased

        journal_t = models.OpenDaylightJournal
        dep = aliased(models.OpenDaylightJournal)
        blocking = (
            sa.select(models.journal_dependencies.c.dependent)
            .join(dep, dep.seqnum == models.journal_dependencies.c.depends_on)
            .where(
                models.journal_dependencies.c.dependent == journal_t.seqnum,
                dep.state.in_([odl_const.PENDING, odl_const.PROCESSING]),
            )
        )
        row = (
            context.session.query(journal_t)
            .filter(journal_t.state == odl_const.PENDING, ~blocking.exists())
            .order_by(sa.asc(journal_t.last_retried), sa.asc(journal_t.seqnum))
            .first()
        )
        if row:
            db.update_db_row_state(context, row, odl_const.PROCESSING)
        return row

    db.get_oldest_pending_db_row_with_lock = db_api.CONTEXT_WRITER(oldest_pending_with_lock)

    context = nl_context.get_admin_context()
    tenant = uuid.uuid4().hex
    rows = 0

    def record(object_type: str, object_uuid: str, operation: str, data: dict[str, Any]) -> None:
        nonlocal rows
        with db_api.CONTEXT_WRITER.using(context):
            journal.record(context, object_type, object_uuid, operation, data)
        rows += 1
        time.sleep(0.001)  # distinct last_retried timestamps keep networking-odl's order

    per_net = max(1, args.ports // args.networks)
    ports: list[dict[str, Any]] = []
    for i in range(args.networks):
        net = {"id": str(uuid.uuid4()), "name": f"n{i}", "tenant_id": tenant, "revision_number": 0}
        record("network", net["id"], "create", net)
        sub = {
            "id": str(uuid.uuid4()),
            "network_id": net["id"],
            "tenant_id": tenant,
            "cidr": f"10.{i // 250}.{i % 250}.0/24",
            "revision_number": 0,
        }
        record("subnet", sub["id"], "create", sub)
        for p in range(per_net):
            port = {
                "id": str(uuid.uuid4()),
                "name": f"p{p}",
                "network_id": net["id"],
                "tenant_id": tenant,
                "fixed_ips": [{"subnet_id": sub["id"], "ip_address": f"10.0.0.{p + 2}"}],
                "security_groups": [],
                "revision_number": 0,
            }
            record("port", port["id"], "create", port)
            ports.append(port)
    for round_ in range(args.updates):
        for port in ports:
            port.update(name=f"u{round_}", revision_number=port["revision_number"] + 1)
            record("port", port["id"], "update", dict(port))
    for port in ports[::10]:
        record("port", port["id"], "delete", {})

    thread = journal.OpenDaylightJournalThread(start_thread=False)
    started = time.perf_counter()
    thread.sync_pending_entries()
    elapsed = time.perf_counter() - started
    with db_api.CONTEXT_READER.using(context):
        left = (
            context.session.query(models.OpenDaylightJournal)
            .filter(models.OpenDaylightJournal.state != odl_const.COMPLETED)
            .count()
        )
    print(json.dumps({"rows": rows, "seconds": elapsed, "not_completed": left}))


if __name__ == "__main__":
    main()
