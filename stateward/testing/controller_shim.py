"""An OpenDaylight-compatible Neutron northbound, in memory: the seed's lightweight test
framework's "ODL shim".

Serves ``/controller/nb/v2/neutron/{networks,subnets,ports,routers,floatingips}`` like ODL
(POST ``{"network": {...}}`` to the collection, GET/PUT/DELETE on the item, GET collection
``{"networks": [...]}``, basic auth), keeps an operation log (what was applied, in which
order, at which ``revision_number``) and takes faults from an admin API under ``/shim``:

- ``POST /shim/faults`` ``{"down": true}`` answers every northbound call 503 (what the load
  balancer in front of ODL answers with no live backend), ``{"latency_ms": 5}`` delays every
  call, ``{"errors": [{"id": UUID, "status": 500, "methods": ["POST"]}]}`` fails one object;
  ``DELETE /shim/faults`` clears them.
- ``POST /shim/break`` drops, alters or adds resources behind Stateward's back
  (``{"delete": [ids], "alter": [ids], "extra": 2}`` or ``{"random": {"delete": 3, ...}}``).
- ``POST /shim/report`` configures port-status reports back to Stateward (the seed's
  "notification from ODL to networking-odl"): after each port create the shim sets the
  port's status through Stateward's Neutron API (``PUT /networking/v2.0/ports/{id}`` with a
  token of a user holding the ``service`` role). ``POST /shim/report-status`` sends one now.
- ``GET /shim/state``, ``GET /shim/log``, ``POST /shim/reset``.

``--persist FILE`` keeps the resources and the log across restarts ("ODL reboot with
persistence"); without it a restart is a cold start with nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

PREFIX = "/controller/nb/v2/neutron"
COLLECTIONS = {
    "networks": "network",
    "subnets": "subnet",
    "ports": "port",
    "routers": "router",
    "floatingips": "floatingip",
}


class ShimState:
    def __init__(self, persist: Path | None = None) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in COLLECTIONS}
        self.log: list[dict[str, Any]] = []
        self.down = False
        self.latency = 0.0
        self.errors: dict[str, dict[str, Any]] = {}
        self.report: dict[str, Any] | None = None
        self.persist = persist
        self.dirty = False
        self.requests = 0
        self._token: tuple[str, float] | None = None
        if persist and persist.exists():
            data = json.loads(persist.read_text())
            for collection, items in data.get("resources", {}).items():
                self.resources.setdefault(collection, {}).update(items)
            self.log = data.get("log", [])

    def record(
        self,
        method: str,
        collection: str,
        object_id: str,
        op: str,
        status: int,
        body: dict[str, Any] | None,
        client: str | None = None,
    ) -> None:
        self.log.append(
            {
                "n": len(self.log) + 1,
                "at": time.time(),
                "method": method,
                "type": COLLECTIONS[collection],
                "id": object_id,
                "op": op,
                "status": status,
                "revision": (body or {}).get("revision_number"),
                "client": client,
            }
        )
        self.dirty = True

    def flush(self) -> None:
        if not self.persist or not self.dirty:
            return
        self.dirty = False
        tmp = self.persist.with_suffix(".tmp")
        tmp.write_text(json.dumps({"resources": self.resources, "log": self.log}))
        os.replace(tmp, self.persist)

    def dump(self) -> dict[str, Any]:
        return {c: list(items.values()) for c, items in self.resources.items()}


def _ua(request: Request) -> str | None:
    return request.headers.get("user-agent")


def create_app(
    *,
    persist: Path | None = None,
    latency_ms: float = 0.0,
    username: str = "admin",
    password: str = "admin",
) -> FastAPI:
    state = ShimState(persist)
    state.latency = latency_ms / 1000
    expected_auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    background: set[asyncio.Task[Any]] = set()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(0.2)
            state.flush()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(flusher())
        try:
            yield
        finally:
            task.cancel()
            for t in list(background):
                t.cancel()
            state.flush()

    app = FastAPI(title="Stateward controller shim (ODL Neutron northbound)", lifespan=lifespan)
    app.state.shim = state

    async def guard(request: Request, object_id: str | None) -> Response | None:
        state.requests += 1
        if request.headers.get("authorization") != expected_auth:
            return JSONResponse({"errors": "unauthorized"}, status_code=401)
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.down:
            return JSONResponse({"errors": "no server is available"}, status_code=503)
        if object_id and object_id in state.errors:
            fault = state.errors[object_id]
            methods = fault.get("methods") or []
            if not methods or request.method in methods:
                return JSONResponse(
                    {"errors": "injected fault"}, status_code=int(fault.get("status", 500))
                )
        return None

    def collection_or_404(collection: str) -> dict[str, dict[str, Any]] | None:
        return state.resources.get(collection) if collection in COLLECTIONS else None

    @app.get(PREFIX + "/{collection}")
    async def list_items(collection: str, request: Request) -> Response:
        items = collection_or_404(collection)
        if items is None:
            return JSONResponse({"errors": "not found"}, status_code=404)
        if (refused := await guard(request, None)) is not None:
            return refused
        return JSONResponse({collection: list(items.values())})

    @app.post(PREFIX + "/{collection}")
    async def create_item(collection: str, request: Request) -> Response:
        items = collection_or_404(collection)
        if items is None:
            return JSONResponse({"errors": "not found"}, status_code=404)
        try:
            body = (await request.json())[COLLECTIONS[collection]]
            object_id = str(body["id"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": "bad body"}, status_code=400)
        if (refused := await guard(request, object_id)) is not None:
            return refused
        if object_id in items:
            state.record("POST", collection, object_id, "create", 409, body, _ua(request))
            return JSONResponse({"errors": "exists"}, status_code=409)
        items[object_id] = body
        state.record("POST", collection, object_id, "create", 201, body, _ua(request))
        if collection == "ports" and state.report:
            task = asyncio.create_task(report_status(object_id, state.report.get("status")))
            background.add(task)
            task.add_done_callback(background.discard)
        return JSONResponse({COLLECTIONS[collection]: body}, status_code=201)

    @app.get(PREFIX + "/{collection}/{object_id}")
    async def get_item(collection: str, object_id: str, request: Request) -> Response:
        items = collection_or_404(collection)
        if items is None:
            return JSONResponse({"errors": "not found"}, status_code=404)
        if (refused := await guard(request, object_id)) is not None:
            return refused
        if object_id not in items:
            return JSONResponse({"errors": "not found"}, status_code=404)
        return JSONResponse({COLLECTIONS[collection]: items[object_id]})

    @app.put(PREFIX + "/{collection}/{object_id}")
    async def update_item(collection: str, object_id: str, request: Request) -> Response:
        items = collection_or_404(collection)
        if items is None:
            return JSONResponse({"errors": "not found"}, status_code=404)
        try:
            body = (await request.json())[COLLECTIONS[collection]]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": "bad body"}, status_code=400)
        if (refused := await guard(request, object_id)) is not None:
            return refused
        if object_id not in items:
            state.record("PUT", collection, object_id, "update", 404, body, _ua(request))
            return JSONResponse({"errors": "not found"}, status_code=404)
        items[object_id] = {**items[object_id], **body, "id": object_id}
        state.record("PUT", collection, object_id, "update", 200, body, _ua(request))
        return JSONResponse({COLLECTIONS[collection]: items[object_id]})

    @app.delete(PREFIX + "/{collection}/{object_id}")
    async def delete_item(collection: str, object_id: str, request: Request) -> Response:
        items = collection_or_404(collection)
        if items is None:
            return JSONResponse({"errors": "not found"}, status_code=404)
        if (refused := await guard(request, object_id)) is not None:
            return refused
        if items.pop(object_id, None) is None:
            state.record("DELETE", collection, object_id, "delete", 404, None, _ua(request))
            return JSONResponse({"errors": "not found"}, status_code=404)
        state.record("DELETE", collection, object_id, "delete", 204, None, _ua(request))
        return Response(status_code=204)

    # port status back to Stateward --------------------------------------------------------
    async def token(client: httpx.AsyncClient, report: dict[str, Any]) -> str:
        if report.get("token"):
            return str(report["token"])
        if state._token and state._token[1] > time.monotonic():
            return state._token[0]
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": report["username"],
                            "domain": {"id": "default"},
                            "password": report["password"],
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": report.get("project", "service"),
                        "domain": {"id": "default"},
                    }
                },
            }
        }
        response = await client.post(
            report["url"].rstrip("/") + "/identity/v3/auth/tokens", json=body
        )
        response.raise_for_status()
        value = response.headers["X-Subject-Token"]
        state._token = (value, time.monotonic() + 600)
        return value

    async def report_status(port_id: str, status: str | None = None) -> int:
        report = state.report
        if not report:
            return 0
        await asyncio.sleep(float(report.get("delay", 0.0)))
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(5):
                try:
                    tok = await token(client, report)
                    response = await client.put(
                        f"{report['url'].rstrip('/')}/networking/v2.0/ports/{port_id}",
                        json={"port": {"status": status or "ACTIVE"}},
                        headers={"X-Auth-Token": tok},
                    )
                    if response.status_code < 500:
                        return response.status_code
                except httpx.HTTPError:
                    log.warning("status report for %s failed", port_id)
                await asyncio.sleep(0.2 * (attempt + 1))
        return 0

    # admin --------------------------------------------------------------------------------
    @app.get("/shim/state")
    async def get_state() -> dict[str, Any]:
        return state.dump()

    @app.get("/shim/log")
    async def get_log(after: int = 0) -> dict[str, Any]:
        return {"log": state.log[after:], "requests": state.requests}

    @app.get("/shim/faults")
    async def get_faults() -> dict[str, Any]:
        return {"down": state.down, "latency_ms": state.latency * 1000, "errors": state.errors}

    @app.post("/shim/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        if "down" in body:
            state.down = bool(body["down"])
        if "latency_ms" in body:
            state.latency = float(body["latency_ms"]) / 1000
        for fault in body.get("errors", []):
            state.errors[str(fault["id"])] = fault
        for object_id in body.get("clear_errors", []):
            state.errors.pop(str(object_id), None)
        return await get_faults()

    @app.delete("/shim/faults")
    async def clear_faults() -> dict[str, Any]:
        state.down, state.errors = False, {}
        return await get_faults()

    @app.post("/shim/reset")
    async def reset() -> dict[str, Any]:
        for items in state.resources.values():
            items.clear()
        state.log.clear()
        state.dirty = True
        return {"reset": True}

    @app.post("/shim/break")
    async def break_things(request: Request) -> dict[str, Any]:
        body = await request.json()
        rng = random.Random(body.get("seed"))
        done: dict[str, list[str]] = {"deleted": [], "altered": [], "added": []}
        to_delete = list(body.get("delete", []))
        to_alter = list(body.get("alter", []))
        extra = int(body.get("extra", 0))
        if "random" in body:
            spec = body["random"]
            everything = [i for items in state.resources.values() for i in items]
            rng.shuffle(everything)
            n_del, n_alt = int(spec.get("delete", 0)), int(spec.get("alter", 0))
            to_delete += everything[:n_del]
            to_alter += everything[n_del : n_del + n_alt]
            extra += int(spec.get("extra", 0))
        for object_id in to_delete:
            for collection, items in state.resources.items():
                if items.pop(object_id, None) is not None:
                    done["deleted"].append(object_id)
                    state.record("BREAK", collection, object_id, "lost", 200, None)
        for object_id in to_alter:
            for items in state.resources.values():
                if object_id in items:
                    items[object_id] = {**items[object_id], "name": f"corrupted-{rng.random()}"}
                    done["altered"].append(object_id)
        for _ in range(extra):
            new_id = str(uuid.uuid4())
            state.resources["networks"][new_id] = {
                "id": new_id,
                "name": "stray",
                "tenant_id": "nobody",
                "admin_state_up": True,
            }
            done["added"].append(new_id)
        state.dirty = True
        return done

    @app.post("/shim/report")
    async def configure_report(request: Request) -> dict[str, Any]:
        body = await request.json()
        state.report = body or None
        state._token = None
        return {"report": {k: v for k, v in (body or {}).items() if k != "password"}}

    @app.post("/shim/report-status")
    async def report_now(request: Request) -> dict[str, Any]:
        body = await request.json()
        code = await report_status(str(body["port_id"]), body.get("status"))
        return {"status_code": code}

    return app


# Checks the emulator and the tests run against the shim -------------------------------------


def order_violations(log_entries: list[dict[str, Any]]) -> list[str]:
    """Operations applied out of order per object, from the shim's own log.

    Per object: nothing applied before its create or after its delete (until a new create),
    and revision numbers never go backwards.
    """
    problems: list[str] = []
    alive: dict[str, bool] = {}
    revision: dict[str, int] = {}
    for entry in log_entries:
        if entry.get("status", 500) >= 300:
            continue
        object_id, op, rev = entry["id"], entry["op"], entry.get("revision")
        if op == "create":
            if alive.get(object_id):
                problems.append(f"#{entry['n']} create of live {object_id}")
            alive[object_id] = True
        elif op == "update":
            if not alive.get(object_id):
                problems.append(f"#{entry['n']} update of absent {object_id}")
        elif op in ("delete", "lost"):
            alive[object_id] = False
        if op in ("create", "update") and rev is not None:
            if rev < revision.get(object_id, -1):
                problems.append(
                    f"#{entry['n']} {op} of {object_id} at revision {rev} after "
                    f"{revision[object_id]}"
                )
            revision[object_id] = max(rev, revision.get(object_id, -1))
    return problems
