"""Profiles rebuilt from the logs of two processes; the timeline, the table and the SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from stateward.profiler.logs import ImportReport, import_logs
from stateward.profiler.model import NAMES, Profile
from stateward.profiler.render import render_svg, render_text

T0 = 1_795_306_991.0
OFFSETS_MS = [0, 50, 58, 66, 70, 75, 80, 81, 83, 90, 92]


def _line(trace: str, name: str, ms: float, process: str, **extra: object) -> str:
    record = {
        "event": "profile.checkpoint",
        "level": "info",
        "logger": "stateward.profiler",
        "trace_id": trace,
        "checkpoint": name,
        "t": T0 + ms / 1000,
        "process_name": process,
        "meta": {"host": "compute-1"},
        "timestamp": "2026-11-22T00:23:11.895510Z",
        **extra,
    }
    return json.dumps(record)


def test_two_process_logs_merge_by_trace(tmp_path: Path) -> None:
    server_log = tmp_path / "server.log"
    consumer_log = tmp_path / "consumer.log"
    server_lines = ["uvicorn starting", '{"event": "request", "path": "/v1"}', "{not json"]
    server_lines += [
        _line("A", name, ms, "server@h1") for name, ms in zip(NAMES[:9], OFFSETS_MS, strict=False)
    ]
    server_lines.append(_line("B", "T01", 0, "server@h1"))
    server_lines.append(json.dumps({"event": "profile.checkpoint", "checkpoint": "T02"}))
    consumer_lines = [
        _line("A", "T09", OFFSETS_MS[9], "consumer@h2"),
        _line("A", "T10", OFFSETS_MS[10], "consumer@h2"),
        _line("A", "T08", 500, "consumer@h2"),  # a later duplicate: the first one is kept
    ]
    server_log.write_text("\n".join(server_lines) + "\n")
    consumer_log.write_text("\n".join(consumer_lines) + "\n")

    report = ImportReport()
    profiles = import_logs([server_log, consumer_log], report)

    assert set(profiles) == {"A", "B"}
    a = profiles["A"]
    assert a.complete
    assert [a.to_export()[n] for n in NAMES] == [float(ms) for ms in OFFSETS_MS]
    assert a.checkpoint_meta["T09"]["process"] == "consumer@h2"
    assert a.checkpoint_meta["T02"] == {"host": "compute-1", "process": "server@h1"}
    assert a.meta["processes"] == ["consumer@h2", "server@h1"]
    assert not profiles["B"].complete
    assert report.checkpoints == 13
    assert len(report.skipped) == 1 and "server.log:" in report.skipped[0]


def test_timestamp_is_used_when_t_is_absent(tmp_path: Path) -> None:
    log = tmp_path / "old.log"
    lines = [
        {
            "event": "profile.checkpoint",
            "trace_id": "C",
            "checkpoint": "T00",
            "timestamp": "2026-11-22T00:00:00.000000Z",
        },
        {
            "event": "profile.checkpoint",
            "trace_id": "C",
            "checkpoint": "T01",
            "timestamp": "2026-11-22T00:00:00.012500Z",
        },
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines))
    assert import_logs([log])["C"].to_export()["T01"] == 12.5


def _profile() -> Profile:
    profile = Profile("render-me")
    for name, ms in zip(NAMES, OFFSETS_MS, strict=True):
        profile.add(name, T0 + ms / 1000)
    return profile


def test_text_timeline_and_cost_table() -> None:
    text = render_text(_profile())
    lines = text.splitlines()
    assert lines[0] == "Profile render-me: total 92.0ms (complete)"
    rows = [line for line in lines if line[:3] in NAMES]
    assert [r[:3] for r in rows] == list(NAMES)
    assert "5-notified VM error" in rows[5] and "75.0ms" in rows[5]
    # The staircase: each row's bar starts where the previous checkpoint stood.
    assert rows[1].rstrip().endswith("+") and rows[1].count("-") > rows[2].count("-")
    table = [line for line in lines if line.startswith("| ") and "->" in line]
    assert [line.split("|")[1].strip() for line in table] == [
        "monitor",
        "inspector",
        "consumer",
        "evaluator",
        "notifier",
        "controller",
    ]
    assert "54.3%" in table[0]


def test_svg_is_valid_xml_with_every_checkpoint() -> None:
    svg = render_svg(_profile())
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for index, name in enumerate(NAMES):
        assert any(t.startswith(f"{name} {index}-") for t in texts), name
    assert "monitor" in texts and "54.3%" in texts
    bars = [
        r
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.find("{http://www.w3.org/2000/svg}title") is not None
    ]
    assert len(bars) == 10  # one bar per step T00->T01 ... T09->T10


def test_partial_profile_renders(tmp_path: Path) -> None:
    profile = Profile("<odd&id>")
    profile.add("T05", T0)
    ET.fromstring(render_svg(profile))
    assert "missing" in render_text(profile)


def _decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Check the PNG structure (signature, chunk CRCs) and return width, height, RGB rows."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


def test_png_is_a_valid_image_with_the_module_colours() -> None:
    from stateward.profiler.png import hex_rgb, render_png
    from stateward.profiler.render import MODULE_COLOURS

    width, height, raw = _decode_png(render_png(_profile()))
    assert width > 1000 and height > 600
    for name, colour in MODULE_COLOURS.items():
        assert bytes(hex_rgb(colour)) in raw, name  # every module's bar is drawn
    partial = Profile("partial")
    partial.add("T05", T0)
    _decode_png(render_png(partial, scale=1))
