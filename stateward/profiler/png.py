"""A dependency-free PNG of a profile: a tiny RGB canvas, a 5x7 bitmap font, zlib.

Neither matplotlib nor Pillow is a dependency of Stateward; a report picture needs only
rectangles and short labels, so the picture of ``render.render_svg`` is redrawn here with
filled rectangles and a built-in 5x7 font (ASCII letters, digits and common punctuation;
anything else is drawn as a box).
"""

from __future__ import annotations

import struct
import zlib

from stateward.profiler.model import CHECKPOINTS, MODULES, Profile, module_of_step
from stateward.profiler.render import MODULE_COLOURS, Layout, _fmt_ms

# 5x7 glyphs, one int per row, bit 4 = leftmost column.
FONT: dict[str, tuple[int, ...]] = {
    "A": (0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E),
    "D": (0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F),
    "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F),
    "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11),
    "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11),
    "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D),
    "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E),
    "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E),
    "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A),
    "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04),
    "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E),
    "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F),
    "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02),
    "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E),
    "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E),
    "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    " ": (0, 0, 0, 0, 0, 0, 0),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C),
    ",": (0, 0, 0, 0, 0x0C, 0x04, 0x08),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0),
    "-": (0, 0, 0, 0x1F, 0, 0, 0),
    ">": (0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08),
    "<": (0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02),
    "_": (0, 0, 0, 0, 0, 0, 0x1F),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02),
    ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0),
    "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
    "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
    "|": (0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "'": (0x04, 0x04, 0x08, 0, 0, 0, 0),
    "a": (0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F),
    "b": (0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E),
    "c": (0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E),
    "d": (0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F),
    "e": (0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E),
    "f": (0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08),
    "g": (0, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E),
    "h": (0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11),
    "i": (0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E),
    "j": (0x02, 0, 0x06, 0x02, 0x02, 0x12, 0x0C),
    "k": (0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12),
    "l": (0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "m": (0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11),
    "n": (0, 0, 0x16, 0x19, 0x11, 0x11, 0x11),
    "o": (0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E),
    "p": (0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10),
    "q": (0, 0, 0x0D, 0x13, 0x0F, 0x01, 0x01),
    "r": (0, 0, 0x16, 0x19, 0x10, 0x10, 0x10),
    "s": (0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E),
    "t": (0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06),
    "u": (0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D),
    "v": (0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "w": (0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A),
    "x": (0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11),
    "y": (0, 0, 0x11, 0x11, 0x0F, 0x01, 0x0E),
    "z": (0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F),
}
UNKNOWN = (0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F)

RGB = tuple[int, int, int]
BLACK: RGB = (0, 0, 0)
GREY: RGB = (153, 153, 153)
LIGHT: RGB = (238, 238, 238)
WHITE: RGB = (255, 255, 255)


def hex_rgb(value: str) -> RGB:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _blend(colour: RGB, alpha: float) -> RGB:
    return (
        round(colour[0] * alpha + 255 * (1 - alpha)),
        round(colour[1] * alpha + 255 * (1 - alpha)),
        round(colour[2] * alpha + 255 * (1 - alpha)),
    )


class Canvas:
    def __init__(self, width: int, height: int, scale: int = 2) -> None:
        self.scale = scale
        self.width = width * scale
        self.height = height * scale
        self.pixels = bytearray(WHITE * (self.width * self.height))

    def rect(self, x: float, y: float, w: float, h: float, colour: RGB) -> None:
        s = self.scale
        x0, y0 = max(0, round(x * s)), max(0, round(y * s))
        x1 = min(self.width, max(x0 + 1, round((x + w) * s)))
        y1 = min(self.height, max(y0 + 1, round((y + h) * s)))
        row = bytes(colour) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def text(self, x: float, baseline: float, value: str, colour: RGB = BLACK) -> None:
        """Text whose baseline is at ``baseline`` (layout units, like SVG)."""
        s = self.scale
        px = round(x * s)
        top = round(baseline * s) - 7 * s
        for char in value:
            glyph = FONT.get(char) or FONT.get(char.upper(), UNKNOWN)
            for row, bits in enumerate(glyph):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self._dot(px + col * s, top + row * s, s, colour)
            px += 6 * s

    def _dot(self, x: int, y: int, size: int, colour: RGB) -> None:
        for yy in range(max(0, y), min(self.height, y + size)):
            start = (yy * self.width + max(0, x)) * 3
            end = (yy * self.width + min(self.width, x + size)) * 3
            if end > start:
                self.pixels[start:end] = bytes(colour) * ((end - start) // 3)

    @staticmethod
    def text_width(value: str) -> float:
        return 6.0 * len(value)

    def png(self) -> bytes:
        raw = bytearray()
        stride = self.width * 3
        for y in range(self.height):
            raw.append(0)  # filter: none
            raw += self.pixels[y * stride : (y + 1) * stride]

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b"")
        )


def render_png(profile: Profile, scale: int = 2) -> bytes:
    """The profile as PNG bytes: the same staircase, module band and cost table as the SVG."""
    lay = Layout(profile)
    canvas = Canvas(lay.width, lay.height, scale)
    state = "complete" if profile.complete else f"{len(profile.checkpoints)}/11 checkpoints"
    canvas.text(10, 22, f"Profile {profile.trace_id}: total {_fmt_ms(profile.total_ms)} ({state})")
    axis_y = lay.top
    for tick in lay.ticks():
        x = lay.x(tick)
        canvas.rect(x, axis_y, 1, lay.band_top - 4 - axis_y, LIGHT)
        canvas.rect(x, axis_y - 4, 1, 4, BLACK)
        label = f"{tick:g}"
        canvas.text(x - canvas.text_width(label) / 2, axis_y - 7, label)
    canvas.rect(lay.left, axis_y, lay.chart, 1, BLACK)
    canvas.text(lay.left + lay.chart + 8, axis_y + 4, "ms")
    previous_ms: float | None = None
    for checkpoint in CHECKPOINTS:
        y = lay.rows_top + checkpoint.index * lay.row
        ms = profile.offset_ms(checkpoint.name)
        label = f"{checkpoint.name} {checkpoint.index}-{checkpoint.label}"
        canvas.text(10, y + 15, label, BLACK if ms is not None else GREY)
        if ms is None:
            canvas.text(lay.left + lay.chart + 8, y + 15, "missing", GREY)
            continue
        x = lay.x(ms)
        if previous_ms is not None:
            colour = hex_rgb(MODULE_COLOURS[module_of_step(checkpoint.name).name])
            x0 = lay.x(min(previous_ms, ms))
            canvas.rect(x0, y + 4, max(1.0, abs(x - lay.x(previous_ms))), lay.row - 8, colour)
        canvas.rect(x - 2, y + lay.row / 2 - 2, 4, 4, BLACK)
        canvas.text(lay.left + lay.chart + 8, y + 15, _fmt_ms(ms))
        previous_ms = ms
    canvas.text(10, lay.band_top + 21, "modules")
    for module in MODULES:
        start_ms, end_ms = profile.offset_ms(module.start), profile.offset_ms(module.end)
        if start_ms is None or end_ms is None:
            continue
        x0, x1 = lay.x(min(start_ms, end_ms)), lay.x(max(start_ms, end_ms))
        colour = hex_rgb(MODULE_COLOURS[module.name])
        canvas.rect(x0, lay.band_top, max(1.0, x1 - x0), lay.band, _blend(colour, 0.35))
        canvas.rect(x0, lay.band_top, 1, lay.band, colour)
        canvas.rect(x1, lay.band_top, 1, lay.band, colour)
        if x1 - x0 >= canvas.text_width(module.name) + 4:
            width = canvas.text_width(module.name)
            canvas.text((x0 + x1 - width) / 2, lay.band_top + 21, module.name)
    y = lay.table_top
    canvas.text(10, y, "Component")
    canvas.text(160, y, "Span")
    canvas.text(300 - canvas.text_width("Time cost"), y, "Time cost")
    canvas.text(400 - canvas.text_width("Percentage"), y, "Percentage")
    for span in profile.by_cost():
        y += 20
        colour = hex_rgb(MODULE_COLOURS[span.module.name])
        canvas.rect(10, y - 10, 10, 10, colour)
        canvas.text(26, y, span.module.name)
        canvas.text(160, y, f"{span.module.start}->{span.module.end}")
        cost = _fmt_ms(span.ms)
        canvas.text(300 - canvas.text_width(cost), y, cost)
        percent = "-" if span.percent is None else f"{span.percent:.1f}%"
        canvas.text(400 - canvas.text_width(percent), y, percent)
        if span.percent:
            canvas.rect(420, y - 10, span.percent * 3, 10, _blend(colour, 0.6))
    return canvas.png()
