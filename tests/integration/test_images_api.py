"""The Glance v2 image catalog over the API: metadata-only (queued) images, data upload and
download with checksum and sha512 ``os_hash_value``, JSON-patch updates, visibility and members,
and the size cap (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.inproc import Stack, stack

I = "/image/v2/images"  # noqa: E741
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DATA = {"Content-Type": "application/octet-stream"}


async def _create(s: Stack, h: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"disk_format": "qcow2", "container_format": "bare", **body}
    return dict((await s.call("POST", I, headers=h, json=body, expect=201)).json())


async def test_discovery_and_schemas(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        r = await s.call("GET", "/image/")
        assert r.status_code == 300
        assert r.json()["versions"][0]["id"] == "v2.16"
        assert r.json()["versions"][0]["links"][0]["href"].endswith("/image/v2/")
        h = await s.headers()
        schema = (await s.call("GET", "/image/v2/schemas/image", headers=h, expect=200)).json()
        assert schema["name"] == "image" and schema["additionalProperties"] == {"type": "string"}
        catalog = (await s.call("GET", "/identity/v3/auth/catalog", headers=h)).json()
        image = [e for e in catalog["catalog"] if e["type"] == "image"]
        assert image[0]["endpoints"][0]["url"].endswith("/image")


async def test_queued_upload_download_and_checksums(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        h = await s.headers()
        image = await _create(s, h, name="cirros", visibility="public", os_distro="cirros")
        assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)
        assert image["os_distro"] == "cirros" and image["file"] == f"/v2/images/{image['id']}/file"
        await s.call("GET", f"{I}/{image['id']}/file", headers=h, expect=204)
        data = os.urandom(300_000)
        await s.call(
            "PUT", f"{I}/{image['id']}/file", headers={**h, **DATA}, content=data, expect=204
        )
        shown = (await s.call("GET", f"{I}/{image['id']}", headers=h, expect=200)).json()
        assert shown["status"] == "active" and shown["size"] == len(data)
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert shown["os_hash_algo"] == "sha512"
        assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
        r = await s.call("GET", f"{I}/{image['id']}/file", headers=h, expect=200)
        assert r.content == data and r.headers["Content-MD5"] == shown["checksum"]
        again = await s.call("PUT", f"{I}/{image['id']}/file", headers={**h, **DATA}, content=b"x")
        assert again.status_code == 409 and "active to saving" in again.json()["message"]
        # formats must be set before data (Glance's rule); a queued image stays as it is
        bare = (await s.call("POST", I, headers=h, json={"name": "meta-only"}, expect=201)).json()
        r = await s.call("PUT", f"{I}/{bare['id']}/file", headers={**h, **DATA}, content=b"x")
        assert r.status_code == 400
        listed = (await s.call("GET", f"{I}?name=cirros", headers=h)).json()["images"]
        assert [i["id"] for i in listed] == [image["id"]]
        assert len((await s.call("GET", f"{I}?status=queued", headers=h)).json()["images"]) == 1
        # paging: limit and a next link, as glanceclient follows it
        page = (await s.call("GET", f"{I}?limit=1&sort_key=name&sort_dir=asc", headers=h)).json()
        assert [i["name"] for i in page["images"]] == ["cirros"]
        page2 = (await s.call("GET", "/image" + page["next"], headers=h)).json()
        assert [i["name"] for i in page2["images"]] == ["meta-only"]
        # the data file goes with the image
        files = list((tmp_path / "state" / "images").iterdir())
        assert [f.name for f in files] == [image["id"]]
        await s.call("DELETE", f"{I}/{image['id']}", headers=h, expect=204)
        await s.call("GET", f"{I}/{image['id']}", headers=h, expect=404)
        assert list((tmp_path / "state" / "images").iterdir()) == []


async def test_patch_tags_protection_and_errors(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url) as s:
        h = await s.headers()
        image = await _create(s, h, name="a", tags=["t1"])
        url = f"{I}/{image['id']}"
        ops = [
            {"op": "replace", "path": "/name", "value": "b"},
            {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
            {"op": "replace", "path": "/protected", "value": True},
        ]
        r = await s.call("PATCH", url, headers={**h, **PATCH}, json=ops, expect=200)
        assert (r.json()["name"], r.json()["hw_disk_bus"], r.json()["protected"]) == (
            "b",
            "virtio",
            True,
        )
        await s.call("PATCH", url, headers=h, json=ops, expect=415)
        await s.call(
            "PATCH",
            url,
            headers={**h, **PATCH},
            json=[{"op": "replace", "path": "/status", "value": "active"}],
            expect=403,
        )
        await s.call("PUT", f"{url}/tags/t2", headers=h, expect=204)
        assert (await s.call("GET", url, headers=h)).json()["tags"] == ["t1", "t2"]
        await s.call("DELETE", f"{url}/tags/t1", headers=h, expect=204)
        await s.call("DELETE", f"{url}/tags/t1", headers=h, expect=404)
        assert [
            i["name"] for i in (await s.call("GET", f"{I}?tag=t2", headers=h)).json()["images"]
        ] == ["b"]
        r = await s.call("DELETE", url, headers=h)
        assert r.status_code == 403 and "protected" in r.json()["message"]
        await s.call(
            "PATCH",
            url,
            headers={**h, **PATCH},
            json=[{"op": "replace", "path": "/protected", "value": False}],
            expect=200,
        )
        await s.call("DELETE", url, headers=h, expect=204)
        for bad in ({"disk_format": "exe"}, {"min_ram": -1}, {"size": 5}, {"k": 1}):
            await s.call("POST", I, headers=h, json=bad, expect=400 if "size" not in bad else 403)
        await s.call("GET", f"{I}?sort_key=bogus", headers=h, expect=400)
        await s.call("GET", f"{I}?marker=nope", headers=h, expect=404)


async def test_visibility_members_and_owner_rules(tmp_path: Path, db_url: str) -> None:
    async with stack(tmp_path, db_url) as s:
        await s.user("alice", "p2", "member")
        await s.user("bob", "p3", "member")
        p3 = await s.project_id("p3")
        alice = await s.headers("alice", "p2")
        bob = await s.headers("bob", "p3")
        await s.call("POST", I, headers=alice, json={"visibility": "public"}, expect=403)
        private = await _create(s, alice, name="private", visibility="private")
        shared = await _create(s, alice, name="shared")  # Glance's default visibility
        community = await _create(s, alice, name="community", visibility="community")
        public = await _create(s, await s.headers(), name="public", visibility="public")
        assert shared["visibility"] == "shared"

        def names(r: Any) -> list[str]:
            return sorted(i["name"] for i in r.json()["images"])

        # the owner's images of any visibility; others' community ones only when asked for
        assert names(await s.call("GET", I, headers=alice)) == [
            "community",
            "private",
            "public",
            "shared",
        ]
        assert names(await s.call("GET", I, headers=bob)) == ["public"]
        assert names(await s.call("GET", f"{I}?visibility=community", headers=bob)) == ["community"]
        await s.call("GET", f"{I}/{private['id']}", headers=bob, expect=404)
        await s.call("GET", f"{I}/{community['id']}", headers=bob, expect=200)
        await s.call("GET", f"{I}/{shared['id']}", headers=bob, expect=404)
        # sharing: bob sees it once a member, lists it once he accepts
        members = f"{I}/{shared['id']}/members"
        await s.call(
            "POST", f"{I}/{private['id']}/members", headers=alice, json={"member": p3}, expect=403
        )
        m = (await s.call("POST", members, headers=alice, json={"member": p3}, expect=200)).json()
        assert (m["member_id"], m["status"]) == (p3, "pending")
        await s.call("POST", members, headers=alice, json={"member": p3}, expect=409)
        await s.call("GET", f"{I}/{shared['id']}", headers=bob, expect=200)
        assert names(await s.call("GET", I, headers=bob)) == ["public"]
        assert names(await s.call("GET", f"{I}?member_status=pending", headers=bob)) == [
            "public",
            "shared",
        ]
        await s.call(
            "PUT", f"{members}/{p3}", headers=alice, json={"status": "accepted"}, expect=403
        )
        await s.call("PUT", f"{members}/{p3}", headers=bob, json={"status": "accepted"}, expect=200)
        assert names(await s.call("GET", I, headers=bob)) == ["public", "shared"]
        # only the owner changes or deletes it
        await s.call(
            "PATCH",
            f"{I}/{shared['id']}",
            headers={**bob, **PATCH},
            json=[{"op": "replace", "path": "/name", "value": "x"}],
            expect=403,
        )
        await s.call("DELETE", f"{I}/{shared['id']}", headers=bob, expect=403)
        await s.call(
            "PUT", f"{I}/{shared['id']}/file", headers={**bob, **DATA}, content=b"x", expect=403
        )
        await s.call("DELETE", f"{members}/{p3}", headers=alice, expect=204)
        await s.call("GET", f"{I}/{shared['id']}", headers=bob, expect=404)
        await s.call("GET", f"{I}/{public['id']}", headers=bob, expect=200)


async def test_size_cap_and_corrupt_data(tmp_path: Path, sqlite_url: str) -> None:
    async with stack(tmp_path, sqlite_url, **{"image.size_cap": 100_000}) as s:
        h = await s.headers()
        image = await _create(s, h, name="big")
        r = await s.call(
            "PUT", f"{I}/{image['id']}/file", headers={**h, **DATA}, content=os.urandom(100_001)
        )
        assert r.status_code == 413
        shown = (await s.call("GET", f"{I}/{image['id']}", headers=h)).json()
        assert (shown["status"], shown["size"]) == ("queued", None)
        store = tmp_path / "state" / "images"
        assert list(store.iterdir()) == []  # nothing partial kept
        data = os.urandom(100_000)
        await s.call(
            "PUT", f"{I}/{image['id']}/file", headers={**h, **DATA}, content=data, expect=204
        )
        # the stored file changes behind the catalog's back: the download is cut off
        (store / image["id"]).write_bytes(b"\0" + data[1:])
        with pytest.raises(Exception, match="does not match its checksum"):
            await s.client.get(f"{I}/{image['id']}/file", headers=h)
