"""Charts drawn on the server as SVG (no script, no CDN): the score histogram, the threshold
calibration curves and a session's timeline. Shapes use presentation attributes rather than
inline styles, so the pages' CSP (``style-src 'self'``) holds; every chart carries a title and
a description for screen readers, and the pages show the same numbers in a table."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from ..reports import Episode

INK, GRID, MUTED = "#222222", "#cccccc", "#555555"
BAD, GOOD, ACCENT = "#a00000", "#0a6b2d", "#0b4fb3"
#: Lane colours for event types on a timeline (dark enough for contrast on white).
PALETTE = ("#0b4fb3", "#a00000", "#7a4b00", "#5b2a86", "#0a6b2d", "#8a1c5a", "#1f5f6b", "#444")
_ids = itertools.count(1)
#: A timeline draws at most this many event lanes (there are 11 flag types).
MAX_LANES = 16
#: Narrowest bar on a timeline lane, in pixels; closer episodes share a bar.
MIN_BAR_PX = 2.5


@dataclass(frozen=True)
class Frame:
    """Maps data coordinates to pixels inside the plotting area."""

    width: int
    height: int
    left: int = 48
    right: int = 16
    top: int = 12
    bottom: int = 36
    x_min: float = 0.0
    x_max: float = 1.0
    y_min: float = 0.0
    y_max: float = 1.0

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return (
            self.height
            - self.bottom
            - (value - self.y_min) / span * (self.height - self.top - self.bottom)
        )


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    colour: str
    dashed: bool = False


def _svg(frame: Frame, title: str, desc: str, body: list[str]) -> Markup:
    n = next(_ids)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="100%" role="img" aria-labelledby="chart{n}-t chart{n}-d" class="chart">'
        f'<title id="chart{n}-t">{escape(title)}</title><desc id="chart{n}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every text part is escaped)


def _text(x: float, y: float, text: str, anchor: str = "middle", colour: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{colour}">'
        f"{escape(text)}</text>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="1.5"{dash}/>'
    )


def _axes(
    frame: Frame, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[float]
) -> list[str]:
    out = []
    for value in y_ticks:
        y = frame.y(value)
        out.append(_line(frame.left, y, frame.width - frame.right, y, GRID))
        out.append(_text(frame.left - 6, y + 4, f"{value:g}", anchor="end"))
    base = frame.height - frame.bottom
    out.append(_line(frame.left, base, frame.width - frame.right, base, INK))
    for value, label in x_ticks:
        out.append(_text(frame.x(value), base + 16, label))
    return out


def _vertical(frame: Frame, x_value: float, label: str, colour: str, row: int = 0) -> list[str]:
    """A dashed vertical marker; ``row`` moves its label down so neighbours do not overlap."""
    x = frame.x(x_value)
    return [
        _line(x, frame.top, x, frame.height - frame.bottom, colour, dashed=True),
        _text(x + 4, frame.top + 10 + 14 * row, label, anchor="start", colour=colour),
    ]


def histogram(
    counts: Sequence[int], edges: Sequence[float], threshold: float | None = None
) -> Markup:
    """Bars of sessions per score bin; bins below the threshold in the "flagged" colour."""
    top = max([*counts, 1])
    frame = Frame(640, 220, x_min=edges[0], x_max=edges[-1], y_max=top)
    body = _axes(
        frame,
        [(e, f"{e:.1f}") for e in edges[:: max(1, len(edges) // 10)]],
        _ticks(top),
    )
    for count, low, high in zip(counts, edges, edges[1:], strict=False):
        x1, x2 = frame.x(low) + 1, frame.x(high) - 1
        y = frame.y(count)
        below = threshold is not None and high <= threshold + 1e-9
        body.append(
            f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 1):.1f}" '
            f'height="{frame.y(0) - y:.1f}" fill="{BAD if below else ACCENT}"/>'
        )
        if count:
            body.append(_text((x1 + x2) / 2, y - 3, str(count)))
    if threshold is not None:
        body += _vertical(frame, threshold, f"threshold {threshold:g}", BAD)
    body.append(_text(frame.width / 2, frame.height - 4, "trust score"))
    desc = ", ".join(
        f"{low:.1f} to {high:.1f}: {count}"
        for count, low, high in zip(counts, edges, edges[1:], strict=False)
    )
    return _svg(frame, "Sessions by trust score", f"Sessions per score range: {desc}.", body)


def curves(
    xs: Sequence[float],
    series: Sequence[Series],
    markers: Sequence[tuple[float, str, str]] = (),
    title: str = "",
    x_label: str = "",
) -> Markup:
    """Lines sharing one x axis, y from 0 to 1 (shares), with labelled vertical markers."""
    frame = Frame(640, 260, x_min=xs[0], x_max=xs[-1], bottom=56)
    body = _axes(
        frame, [(x, f"{x:g}") for x in xs[:: max(1, len(xs) // 10)]], [0, 0.25, 0.5, 0.75, 1]
    )
    for s in series:
        points = " ".join(
            f"{frame.x(x):.1f},{frame.y(v):.1f}" for x, v in zip(xs, s.values, strict=True)
        )
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>'
        )
    for row, (x_value, label, colour) in enumerate(markers):
        body += _vertical(frame, x_value, label, colour, row)
    legend_y = frame.height - 8
    x = float(frame.left)
    for s in series:
        body.append(_line(x, legend_y - 4, x + 18, legend_y - 4, s.colour, s.dashed))
        body.append(_text(x + 22, legend_y, s.label, anchor="start"))
        x += 30 + 7 * len(s.label)
    body.append(_text(frame.width / 2, frame.height - 26, x_label))
    desc = "; ".join(f"{s.label}" for s in series)
    return _svg(frame, title, f"{title}: {desc}, for each {x_label}.", body)


def timeline(
    points: Sequence[tuple[int, float]],
    episodes: Sequence[Episode],
    exam_ms: int,
    threshold: float,
) -> Markup:
    """The trust score over the exam (a line) above one lane per event type (marks and bars)."""
    lanes = sorted({e.lane for e in episodes})[:MAX_LANES]
    lane_h = 18
    score_h = 160
    height = score_h + lane_h * len(lanes) + 44
    end = max(exam_ms, 1)
    frame = Frame(720, height, left=120, x_max=end / 60000, bottom=height - score_h)
    minutes = end / 60000
    step = _minute_step(minutes)
    ticks = [(m, f"{m:g} min") for m in _frange(0, minutes, step)]
    body = _axes(frame, [], [0, 0.5, 1])
    y_threshold = frame.y(threshold)
    body.append(_line(frame.left, y_threshold, frame.width - frame.right, y_threshold, BAD, True))
    body.append(
        _text(frame.width - frame.right, y_threshold - 4, f"threshold {threshold:g}", "end", BAD)
    )
    if points:
        path = " ".join(f"{frame.x(t / 60000):.1f},{frame.y(s):.1f}" for t, s in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    body.append(_text(frame.left - 6, frame.top + 4, "score", anchor="end", colour=MUTED))
    for index, lane in enumerate(lanes):
        colour = PALETTE[index % len(PALETTE)]
        y = score_h + 8 + index * lane_h
        body.append(_text(frame.left - 6, y + 11, lane.replace("_", " "), anchor="end"))
        body.append(_line(frame.left, y + 14, frame.width - frame.right, y + 14, GRID))
        spans = [
            (frame.x(e.start_ms / 60000), frame.x(e.end_ms / 60000))
            for e in episodes
            if e.lane == lane
        ]
        for x1, x2 in _merged(spans, MIN_BAR_PX):
            body.append(
                f'<rect x="{x1:.1f}" y="{y + 3:.1f}" width="{max(x2 - x1, MIN_BAR_PX):.1f}" '
                f'height="10" fill="{colour}"/>'
            )
    axis_y = height - 30
    body.append(_line(frame.left, axis_y, frame.width - frame.right, axis_y, INK))
    for value, label in ticks:
        body.append(_text(frame.x(value), axis_y + 16, label))
    counts = {lane: sum(1 for e in episodes if e.lane == lane) for lane in lanes}
    desc = (
        f"Trust score over {minutes:.1f} minutes, ending at {points[-1][1]:.2f}; "
        if points
        else "No score yet; "
    ) + ", ".join(f"{lane.replace('_', ' ')}: {n}" for lane, n in counts.items())
    return _svg(frame, "Session timeline", desc + ".", body)


def _ticks(top: int) -> list[float]:
    step = max(1, -(-top // 4))
    return [float(v) for v in range(0, top + step, step)]


def _minute_step(minutes: float) -> float:
    """A round step that gives at most 10 intervals over ``minutes``, however long it is."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60):
        if minutes / step <= 10:
            return step
    decade = 10.0 ** math.floor(math.log10(minutes / 10))
    return next(m * decade for m in (1, 2, 5, 10) if minutes / (m * decade) <= 10)


def _merged(spans: Sequence[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """Pixel spans joined where they touch or lie within ``gap`` of each other: a lane draws at
    most one bar per ``gap`` pixels of width, however many episodes it holds."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        end = max(end, start + gap)
        if merged and start <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _frange(start: float, stop: float, step: float) -> list[float]:
    count = int(stop / step + 1e-9) + 1
    return [start + i * step for i in range(count)]
