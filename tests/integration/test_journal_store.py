"""Journal rows in the store, on SQLite and PostgreSQL: dependencies, claiming, fencing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from stateward.domain.events import utcnow
from stateward.domain.journal import Operation, RowState
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.journal import JournalRepository


async def _store(url: str) -> Store:
    from stateward.config import to_async_url

    url = to_async_url(url)
    await upgrade_async(url)
    return Store(url)


async def _record(store: Store, *rows: tuple[str, str, Operation, dict[str, object]]) -> list[int]:
    async with store.uow() as uow:
        repo = JournalRepository(uow)
        seqs = [await repo.record(t, u, o, d, utcnow()) for t, u, o, d in rows]
        await uow.commit()
    return seqs


async def _claim(store: Store, limit: int = 50) -> list[tuple[int, str]]:
    async with store.uow() as uow:
        rows = await JournalRepository(uow).claim(limit, utcnow())
        await uow.commit()
    return [(r.seqnum, r.object_uuid) for r in rows]


async def _complete(store: Store, *seqnums: int) -> None:
    async with store.uow() as uow:
        repo = JournalRepository(uow)
        for seq in seqnums:
            row = await repo.get(seq)
            assert row is not None
            assert await repo.finish(row, RowState.COMPLETED, 0, utcnow())
        await uow.commit()


PORT = {"id": "p1", "network_id": "n1", "fixed_ips": [{"subnet_id": "s1"}]}


async def test_create_waits_for_parents_and_rows_go_in_order(db_url: str) -> None:
    store = await _store(db_url)
    try:
        net, sub, port, upd = await _record(
            store,
            ("network", "n1", Operation.CREATE, {"id": "n1"}),
            ("subnet", "s1", Operation.CREATE, {"id": "s1", "network_id": "n1"}),
            ("port", "p1", Operation.CREATE, PORT),
            ("port", "p1", Operation.UPDATE, {**PORT, "name": "x"}),
        )
        async with store.uow(readonly=True) as uow:
            assert await JournalRepository(uow).dependencies(port) == [net, sub]
        assert await _claim(store) == [(net, "n1")]
        assert await _claim(store) == []  # the network's row is still processing
        await _complete(store, net)
        assert await _claim(store) == [(sub, "s1")]
        await _complete(store, sub)
        assert await _claim(store) == [(port, "p1")]
        assert await _claim(store) == []  # the update waits for the create of the same port
        await _complete(store, port)
        assert await _claim(store) == [(upd, "p1")]
    finally:
        await store.close()


async def test_delete_waits_for_its_childrens_deletes(db_url: str) -> None:
    store = await _store(db_url)
    try:
        port_del, subnet_del, net_del = await _record(
            store,
            ("port", "p1", Operation.DELETE, PORT),
            ("subnet", "s1", Operation.DELETE, {"id": "s1", "network_id": "n1"}),
            ("network", "n1", Operation.DELETE, {"id": "n1"}),
        )
        async with store.uow(readonly=True) as uow:
            repo = JournalRepository(uow)
            assert await repo.dependencies(net_del) == [port_del, subnet_del]
            assert await repo.dependencies(subnet_del) == [port_del]
        assert await _claim(store) == [(port_del, "p1")]
        await _complete(store, port_del)
        assert await _claim(store) == [(subnet_del, "s1")]
        await _complete(store, subnet_del)
        assert await _claim(store) == [(net_del, "n1")]
    finally:
        await store.close()


async def test_independent_objects_are_claimed_together_oldest_first(db_url: str) -> None:
    store = await _store(db_url)
    try:
        seqs = await _record(
            store, *[("network", f"n{i}", Operation.CREATE, {"id": f"n{i}"}) for i in range(5)]
        )
        assert [s for s, _ in await _claim(store, limit=3)] == seqs[:3]
        assert [s for s, _ in await _claim(store, limit=3)] == seqs[3:]
    finally:
        await store.close()


async def test_a_reset_row_fences_off_its_old_workers_answer(db_url: str) -> None:
    store = await _store(db_url)
    try:
        (seq,) = await _record(store, ("network", "n1", Operation.CREATE, {"id": "n1"}))
        async with store.uow() as uow:
            (stale,) = await JournalRepository(uow).claim(1, utcnow() - timedelta(seconds=500))
            await uow.commit()
        async with store.uow() as uow:
            repo = JournalRepository(uow)
            assert await repo.reset_stuck(utcnow() - timedelta(seconds=100), utcnow()) == [seq]
            await uow.commit()
        assert await _claim(store) == [(seq, "n1")]
        async with store.uow() as uow:
            assert not await JournalRepository(uow).finish(stale, RowState.COMPLETED, 0, utcnow())
            await uow.commit()
    finally:
        await store.close()


async def test_competing_claimers_never_share_a_row_or_an_object(db_url: str) -> None:
    """Several stores (as several processes) claim at once: each row once, and never two
    rows of one object in flight together."""
    stores = [await _store(db_url) for _ in range(3)]
    try:
        rows = []
        for i in range(40):
            rows.append(("network", f"n{i % 10}", Operation.UPDATE, {"id": f"n{i % 10}"}))
        await _record(stores[0], *rows)
        claimed: list[int] = []
        per_object: dict[str, list[int]] = {}
        in_flight: set[str] = set()
        violations: list[str] = []

        async def worker(store: Store) -> None:
            idle = 0
            while idle < 5:
                got = await _claim(store, limit=4)
                if not got:
                    idle += 1
                    await asyncio.sleep(0.02)
                    continue
                idle = 0
                for seq, obj in got:
                    if obj in in_flight:
                        violations.append(obj)
                    in_flight.add(obj)
                    claimed.append(seq)
                    per_object.setdefault(obj, []).append(seq)
                await asyncio.sleep(0.005)
                for _, obj in got:
                    in_flight.discard(obj)
                await _complete(store, *[s for s, _ in got])

        await asyncio.gather(*(worker(s) for s in stores))
        assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 40
        assert violations == []
        assert all(seqs == sorted(seqs) for seqs in per_object.values())
    finally:
        for s in stores:
            await s.close()
