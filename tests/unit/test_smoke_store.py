from stateward.config import to_async_url
from stateward.domain.events import Envelope, utcnow
from stateward.store.db import Store
from stateward.store.migrate import upgrade_async
from stateward.store.repositories.outbox import OutboxRepository


async def test_outbox_row_written_with_transaction(db_url: str) -> None:
    url = to_async_url(db_url)
    await upgrade_async(url)
    store = Store(url)
    seen = []
    store.add_commit_listener(seen.append)
    async with store.uow() as uow:
        uow.emit(Envelope(event_type="x.y", publisher_id="t"))
        await uow.commit()
    async with store.uow() as uow:
        uow.emit(Envelope(event_type="x.z", publisher_id="t"))
        # no commit: rolled back
    async with store.uow() as uow:
        rows = await OutboxRepository(uow).unsent(created_before=utcnow(), limit=10)
    assert [e.event_type for _, e in rows] == ["x.y"]
    assert len(seen) == 1
    await store.close()
