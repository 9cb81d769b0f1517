"""Draw a profile: the seed's text timeline, the table of components by time cost, and an SVG
(hand-written, no dependency) for reports. ``stateward.profiler.png.render_png`` rasterises the same
picture without any dependency.
"""

from __future__ import annotations

import io
import math
from xml.sax.saxutils import escape

from rich import box
from rich.console import Console
from rich.table import Table

from stateward.profiler.model import BY_NAME, CHECKPOINTS, MODULES, Profile, module_of_step

MODULE_COLOURS = {
    "monitor": "#8c6bb1",
    "inspector": "#e6550d",
    "controller": "#3182bd",
    "notifier": "#31a354",
    "evaluator": "#d62728",
    "consumer": "#636363",
}


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.3f}ms" if abs(ms) < 1 else f"{ms:.1f}ms"


def _col(ms: float, total: float, width: int) -> int:
    if total <= 0:
        return 0
    return max(0, min(width, round(ms / total * width)))


def timeline_text(profile: Profile, width: int = 50) -> str:
    """The seed's staircase: one row per checkpoint, a bar from the previous one to it."""
    total = profile.total_ms or 0.0
    lines = []
    state = "complete" if profile.complete else f"{len(profile.checkpoints)}/11 checkpoints"
    lines.append(f"Profile {profile.trace_id}: total {_fmt_ms(profile.total_ms)} ({state})")
    label_width = 37
    pad = " " * label_width
    scale = f"0{' ' * (width - 1)}{_fmt_ms(total)}"
    lines.append(pad + scale)
    lines.append(pad + "+" + "-" * (width - 1) + ">")
    previous: int | None = None
    for checkpoint in CHECKPOINTS:
        ms = profile.offset_ms(checkpoint.name)
        label = f"{checkpoint.index}-{checkpoint.label}"
        if ms is None:
            lines.append(f"{checkpoint.name} {label:<22}{'missing':>10}")
            continue
        col = _col(ms, total, width)
        start = col if previous is None else min(previous, col)
        bar = " " * start + ("+" if previous is None else "+" + "-" * max(0, col - start - 1))
        if previous is not None and col > start:
            bar += "+"
        head = f"{checkpoint.name} {label:<22}{_fmt_ms(ms):>10}"
        lines.append(f"{head:<{label_width}}{bar}")
        previous = col
    # The module band under the staircase, as the seed's "monitor | inspector | nova | ..."
    band = [" "] * (width + 1)
    names = [" "] * (width + 16)
    for module in MODULES:
        start_ms, end_ms = profile.offset_ms(module.start), profile.offset_ms(module.end)
        if start_ms is None or end_ms is None:
            continue
        a, b = _col(start_ms, total, width), _col(end_ms, total, width)
        band[a] = "|"
        band[b] = "|"
        for label in (module.name, module.id, ""):
            if len(label) <= max(0, b - a - 1):
                break
        for i, ch in enumerate(label):
            names[a + 1 + i] = ch
    lines.append(pad + "".join(band).rstrip())
    lines.append(pad + "".join(names).rstrip())
    return "\n".join(lines)


def cost_table(profile: Profile) -> Table:
    """Components sorted by time cost, most first, with their share of the total."""
    table = Table(
        "Component",
        "Span",
        "Time Cost",
        "Percentage",
        box=box.ASCII2,
        title="components by time cost",
    )
    for span in profile.by_cost():
        table.add_row(
            span.module.name,
            f"{span.module.start}->{span.module.end}",
            _fmt_ms(span.ms),
            "-" if span.percent is None else f"{span.percent:.1f}%",
        )
    return table


def render_text(profile: Profile, width: int = 50, console_width: int = 100) -> str:
    """Timeline, table of components and the profile's problems, as plain text."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=console_width, color_system=None, highlight=False)
    console.print(timeline_text(profile, width), markup=False, highlight=False)
    console.print()
    console.print(cost_table(profile))
    for problem in profile.problems():
        console.print(f"note: {problem}", markup=False, highlight=False)
    return buffer.getvalue()


def list_table(rows: list[dict[str, object]]) -> Table:
    """Profile summaries (``Profile.summary()`` or the API's list items) as a table."""
    table = Table(box=box.SIMPLE)
    table.add_column("ID", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Total", justify="right", no_wrap=True)
    table.add_column("Checkpoints", justify="right")
    table.add_column("Slowest")
    for row in rows:
        total = row.get("total_ms")
        table.add_row(
            str(row.get("id")),
            str(row.get("started_at") or "-").replace("+00:00", "Z"),
            _fmt_ms(total if isinstance(total, int | float) else None),
            f"{row.get('checkpoints')}/11",
            str(row.get("slowest") or "-"),
        )
    return table


# -- SVG -------------------------------------------------------------------------------------


def _nice_step(total: float, target: int = 8) -> float:
    if total <= 0:
        return 1.0
    raw = total / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


class Layout:
    """Geometry shared by the SVG and PNG renderers (pixels)."""

    left = 250
    chart = 560
    right = 90
    top = 60
    row = 22
    band = 34

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.total = profile.total_ms or 0.0
        self.width = self.left + self.chart + self.right
        self.rows_top = self.top + 14
        self.band_top = self.rows_top + self.row * len(CHECKPOINTS) + 10
        self.table_top = self.band_top + self.band + 26
        self.height = self.table_top + 20 * (len(MODULES) + 1) + 20

    def x(self, ms: float) -> float:
        if self.total <= 0:
            return float(self.left)
        return self.left + self.chart * ms / self.total

    def ticks(self) -> list[float]:
        step = _nice_step(self.total)
        count = int(self.total / step + 1e-9)
        return [round(i * step, 6) for i in range(count + 1)]


def render_svg(profile: Profile) -> str:
    """An SVG picture of the profile: the staircase, the module band, the cost table."""
    lay = Layout(profile)
    out: list[str] = []
    add = out.append
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width}" height="{lay.height}" '
        f'viewBox="0 0 {lay.width} {lay.height}" font-family="DejaVu Sans, Arial, sans-serif" '
        'font-size="12">'
    )
    add(f"<title>Stateward profile {escape(profile.trace_id)}</title>")
    add(f'<rect x="0" y="0" width="{lay.width}" height="{lay.height}" fill="#ffffff"/>')
    state = "complete" if profile.complete else f"{len(profile.checkpoints)}/11 checkpoints"
    add(
        f'<text x="10" y="22" font-size="15" font-weight="bold">Profile '
        f"{escape(profile.trace_id)}: total {escape(_fmt_ms(profile.total_ms))} "
        f"({escape(state)})</text>"
    )
    # axis
    axis_y = lay.top
    add(
        f'<line x1="{lay.left}" y1="{axis_y}" x2="{lay.left + lay.chart}" y2="{axis_y}" '
        'stroke="#000"/>'
    )
    for tick in lay.ticks():
        x = lay.x(tick)
        add(f'<line x1="{x:.1f}" y1="{axis_y - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="#000"/>')
        add(
            f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{lay.band_top - 4}" '
            'stroke="#eeeeee"/>'
        )
        add(f'<text x="{x:.1f}" y="{axis_y - 7}" text-anchor="middle">{tick:g}</text>')
    add(f'<text x="{lay.left + lay.chart + 8}" y="{axis_y + 4}" font-style="italic">ms</text>')
    # staircase rows
    previous_ms: float | None = None
    for checkpoint in CHECKPOINTS:
        y = lay.rows_top + checkpoint.index * lay.row
        ms = profile.offset_ms(checkpoint.name)
        label = f"{checkpoint.name} {checkpoint.index}-{checkpoint.label}"
        colour = "#000000" if ms is not None else "#999999"
        add(
            f'<text x="10" y="{y + 15}" fill="{colour}" data-checkpoint="{checkpoint.name}">'
            f"{escape(label)}</text>"
        )
        if ms is None:
            add(f'<text x="{lay.left + lay.chart + 8}" y="{y + 15}" fill="#999999">missing</text>')
            continue
        x = lay.x(ms)
        if previous_ms is not None:
            module = module_of_step(checkpoint.name)
            x0 = lay.x(min(previous_ms, ms))
            width = max(1.0, abs(x - lay.x(previous_ms)))
            add(
                f'<rect x="{x0:.1f}" y="{y + 4}" width="{width:.1f}" height="{lay.row - 8}" '
                f'fill="{MODULE_COLOURS[module.name]}"><title>{escape(module.name)}: '
                f"{escape(_fmt_ms(ms - previous_ms))}</title></rect>"
            )
        add(f'<circle cx="{x:.1f}" cy="{y + lay.row / 2:.1f}" r="3" fill="#000"/>')
        add(f'<text x="{lay.left + lay.chart + 8}" y="{y + 15}">{escape(_fmt_ms(ms))}</text>')
        previous_ms = ms
    # module band
    for module in MODULES:
        start_ms, end_ms = profile.offset_ms(module.start), profile.offset_ms(module.end)
        if start_ms is None or end_ms is None:
            continue
        x0, x1 = lay.x(min(start_ms, end_ms)), lay.x(max(start_ms, end_ms))
        add(
            f'<rect x="{x0:.1f}" y="{lay.band_top}" width="{max(1.0, x1 - x0):.1f}" '
            f'height="{lay.band}" fill="{MODULE_COLOURS[module.name]}" fill-opacity="0.35" '
            f'stroke="{MODULE_COLOURS[module.name]}"/>'
        )
        if x1 - x0 >= 7 * len(module.name):
            add(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{lay.band_top + 21}" '
                f'text-anchor="middle">{escape(module.name)}</text>'
            )
    add(f'<text x="10" y="{lay.band_top + 21}">modules</text>')
    # cost table
    y = lay.table_top
    add(f'<text x="10" y="{y}" font-weight="bold">Component</text>')
    add(f'<text x="160" y="{y}" font-weight="bold">Span</text>')
    add(f'<text x="300" y="{y}" font-weight="bold" text-anchor="end">Time cost</text>')
    add(f'<text x="400" y="{y}" font-weight="bold" text-anchor="end">Percentage</text>')
    for span in profile.by_cost():
        y += 20
        add(
            f'<rect x="10" y="{y - 10}" width="10" height="10" '
            f'fill="{MODULE_COLOURS[span.module.name]}"/>'
        )
        add(f'<text x="26" y="{y}">{escape(span.module.name)}</text>')
        add(f'<text x="160" y="{y}">{span.module.start}-&gt;{span.module.end}</text>')
        add(f'<text x="300" y="{y}" text-anchor="end">{escape(_fmt_ms(span.ms))}</text>')
        percent = "-" if span.percent is None else f"{span.percent:.1f}%"
        add(f'<text x="400" y="{y}" text-anchor="end">{percent}</text>')
        if span.percent:
            add(
                f'<rect x="420" y="{y - 10}" width="{span.percent * 3:.1f}" height="10" '
                f'fill="{MODULE_COLOURS[span.module.name]}" fill-opacity="0.6"/>'
            )
    add("</svg>")
    return "\n".join(out) + "\n"


def checkpoint_label(name: str) -> str:
    return f"{name} {BY_NAME[name].label}"
