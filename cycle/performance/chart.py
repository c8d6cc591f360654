"""A small chart of an indicator's last quarters against its target, as inline SVG built as text (no JavaScript, no
dependency): the quarterly report's HTML draws one per indicator (docs/reports.md).

What it shows does not rest on colour alone, so it prints in black and white and reads aloud:

- each quarter with a value is a point whose shape says its status (circle met, diamond over, triangle near, cross
  missed; a hollow circle when the quarter is not judged), with a <title> naming quarter, value and status;
- a quarter without a value is a gap in the line, never a zero;
- the target in force each quarter is a dashed step line, its tolerance (the `near` zone) a shaded strip; a band
  is a shaded strip between its edges, with its tolerance either side;
- the <svg> has role="img", a <title> and a <desc> listing every quarter in words, and a viewBox so it scales.

Every text a user gave (a title, a key, a unit) is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from decimal import Decimal

from .portfolio import Charted, Point
from .status import BETTER_TREND, MET, MISSED, NEAR, NO_RETURN, OVER, SAME_TREND, WORSE_TREND, Rule, text_of

WIDTH, HEIGHT = 220, 64
_LEFT, _RIGHT, _TOP, _BOTTOM = 4.0, 158.0, 6.0, 48.0  # the plot area; labels to the right and below
_R = 3.5  # a point's half size
ARROWS = {BETTER_TREND: "\u2191", WORSE_TREND: "\u2193", SAME_TREND: "\u2192"}  # up, down, right
SHAPES = {MET: "circle", OVER: "diamond", NEAR: "triangle", MISSED: "cross"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def trend_shown(trend: str | None) -> str:
    """A trend as an arrow and its word ('\u2191 better'), so that it is read the same with or without the arrow."""
    return f"{ARROWS[trend]} {trend}" if trend in ARROWS else ""


def esc(text: object) -> str:
    """Text for SVG or HTML: markup escaped, control characters (invalid in XML) shown as U+FFFD."""
    return html.escape(_CONTROL.sub("\ufffd", str(text)), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}"


def _unit(unit: str | None) -> str:
    return "" if not unit else unit if unit == "%" else f" {unit}"


def target_text(better: str, target: str | None, low: str | None, high: str | None, unit: str | None) -> str:
    """The target in force, short, for a table: '92% or more', '30 days or less', '80 to 90%'; '-' without one."""
    u = _unit(unit)
    if better == "band":
        return f"{low} to {high}{u}" if low is not None and high is not None else "-"
    if target is None:
        return "-"
    return f"{target}{u} or {'more' if better == 'higher' else 'less'}"


def value_text(value: str | None, unit: str | None) -> str:
    """A value with its unit ('95%', '31 days'); '-' for none."""
    return "-" if value is None else f"{value}{_unit(unit)}"


def _terms(rule: Rule | None, unit: str | None) -> str:
    if rule is None:
        return "target unreadable"
    u = _unit(unit)
    if rule.better == "band":
        assert rule.low is not None and rule.high is not None
        return f"band {text_of(rule.low)} to {text_of(rule.high)}{u}"
    assert rule.target is not None
    return f"target {text_of(rule.target)}{u}"


def _said(p: Point, unit: str | None) -> str:
    """One quarter in words, for the chart's description and its point's title."""
    if p.value is None:
        why = {NO_RETURN: "no return", None: "contract not running"}.get(p.status, "return not yet due")
        return f"{p.quarter}: {why}"
    if not _drawable(p.value):
        return f"{p.quarter}: {p.status or 'not judged'}, a value too large to draw"
    return f"{p.quarter}: {text_of(p.value)}{_unit(unit)}, {p.status or 'not judged'} ({_terms(p.rule, unit)})"


#: Beyond what `kpi record` takes (15 digits before the point): only a hand edit gives it, and it is not drawn.
_LIMIT = Decimal("1e16")


def _drawable(value: Decimal | None) -> bool:
    return value is not None and abs(value) < _LIMIT


def _edges(rule: Rule) -> list[Decimal]:
    """The levels a rule puts on the chart: its target or band and the edges of its tolerance."""
    if rule.better == "band":
        assert rule.low is not None and rule.high is not None
        return [rule.low - rule.tolerance, rule.low, rule.high, rule.high + rule.tolerance]
    assert rule.target is not None
    short = rule.target - rule.tolerance if rule.better == "higher" else rule.target + rule.tolerance
    return [rule.target, short]


def _shape(status: str | None, x: float, y: float) -> str:
    shape = SHAPES.get(status or "")
    if shape == "circle":
        return f'<circle class="mark" cx="{_num(x)}" cy="{_num(y)}" r="{_R}"/>'
    if shape == "diamond":
        d = _R + 0.8
        return (f'<polygon class="mark" points="{_num(x)},{_num(y - d)} {_num(x + d)},{_num(y)} {_num(x)},'
                f'{_num(y + d)} {_num(x - d)},{_num(y)}"/>')
    if shape == "triangle":
        d = _R + 0.6
        return (f'<polygon class="mark" points="{_num(x - d)},{_num(y - d * 0.8)} {_num(x + d)},{_num(y - d * 0.8)} '
                f'{_num(x)},{_num(y + d)}"/>')
    if shape == "cross":
        d = _R
        return (f'<path class="mark" d="M{_num(x - d)},{_num(y - d)}L{_num(x + d)},{_num(y + d)}'
                f'M{_num(x - d)},{_num(y + d)}L{_num(x + d)},{_num(y - d)}"/>')
    return f'<circle class="mark" cx="{_num(x)}" cy="{_num(y)}" r="{_R - 0.5}" fill="#fff" stroke="#505a5f"/>'


_COLOURS = {MET: "#00703c", OVER: "#1d70b8", NEAR: "#946f00", MISSED: "#d4351c"}


def svg(item: Charted, n: int) -> str:
    """The chart of one indicator as an <svg> element; `n` makes its ids unique in the page."""
    line, points = item.line, item.points
    unit = line.unit
    levels = [p.value for p in points if p.value is not None and _drawable(p.value)]
    for p in points:
        if p.rule is not None:
            levels += [v for v in _edges(p.rule) if _drawable(v)]
    lo, hi = (float(min(levels)), float(max(levels))) if levels else (0.0, 1.0)
    span = hi - lo or abs(hi) or 1.0
    lo, hi = lo - span * 0.12, hi + span * 0.12

    def y_of(v: Decimal) -> float:  # a level beyond the scale (a hand edit) at the frame's edge
        return min(max(_BOTTOM - (float(max(min(v, _LIMIT), -_LIMIT)) - lo) / (hi - lo) * (_BOTTOM - _TOP),
                       _TOP - 3), _BOTTOM + 3)

    step = (_RIGHT - _LEFT) / max(len(points), 1)
    out: list[str] = []
    # The target (or band) in force each quarter, with its tolerance: drawn first, underneath.
    for i, p in enumerate(points):
        r = p.rule
        if r is None or p.status is None:
            continue
        x0, x1 = _LEFT + i * step, _LEFT + (i + 1) * step
        w = _num(x1 - x0)
        if r.better == "band":
            assert r.low is not None and r.high is not None
            top, bottom = y_of(r.high + r.tolerance), y_of(r.low - r.tolerance)
            out.append(f'<rect class="tolerance" x="{_num(x0)}" y="{_num(top)}" width="{w}" '
                       f'height="{_num(bottom - top)}"/>')
            top, bottom = y_of(r.high), y_of(r.low)
            out.append(f'<rect class="band" x="{_num(x0)}" y="{_num(top)}" width="{w}" height="{_num(bottom - top)}"/>')
            for edge in (top, bottom):
                out.append(f'<line class="target" x1="{_num(x0)}" x2="{_num(x1)}" y1="{_num(edge)}" '
                           f'y2="{_num(edge)}"/>')
            continue
        assert r.target is not None
        t = y_of(r.target)
        if r.tolerance:
            s = y_of(_edges(r)[1])
            out.append(f'<rect class="tolerance" x="{_num(x0)}" y="{_num(min(t, s))}" width="{w}" '
                       f'height="{_num(abs(s - t))}"/>')
        out.append(f'<line class="target" x1="{_num(x0)}" x2="{_num(x1)}" y1="{_num(t)}" y2="{_num(t)}"/>')
    # The values: a line through consecutive quarters that have one; a quarter without is a gap.
    run: list[str] = []
    for i, p in enumerate(points + [Point("", None, None, None)]):
        if _drawable(p.value):
            assert p.value is not None
            run.append(f"{_num(_LEFT + (i + 0.5) * step)},{_num(y_of(p.value))}")
            continue
        if len(run) > 1:
            out.append(f'<polyline class="values" points="{" ".join(run)}"/>')
        run = []
    for i, p in enumerate(points):
        said = esc(_said(p, unit))
        if not _drawable(p.value):
            out.append(f'<g class="q gap" data-quarter="{esc(p.quarter)}" data-status="{esc(p.status or "")}">'
                       f"<title>{said}</title></g>")
            continue
        assert p.value is not None
        x, y = _LEFT + (i + 0.5) * step, y_of(p.value)
        colour = _COLOURS.get(p.status or "", "#505a5f")
        out.append(f'<g class="q" data-quarter="{esc(p.quarter)}" data-value="{esc(text_of(p.value))}" '
                   f'data-status="{esc(p.status or "")}" fill="{colour}" stroke="{colour}"><title>{said}</title>'
                   f"{_shape(p.status, x, y)}</g>")
    head, _, tail = (_terms(points[-1].rule, unit) if points else "").partition(" ")
    first, last = (esc(points[0].quarter), esc(points[-1].quarter)) if points else ("", "")
    ident = f"kpi-chart-{n}"
    title = esc(f"{line.title} ({line.project}{', ' + line.contract if line.contract else ''}, {line.kpi}): "
                f"the last {len(points)} quarters against its target")
    better = {"higher": "Higher is better", "lower": "Lower is better", "band": "Inside the band is met"}.get(
        line.better, "")
    desc = esc(f"{better}. " + "; ".join(_said(p, unit) for p in points) + ".")
    return (f'<svg class="kpi-chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{ident}-t {ident}-d">'
            f'<title id="{ident}-t">{title}</title><desc id="{ident}-d">{desc}</desc>'
            f'<rect class="frame" x="{_LEFT}" y="{_TOP - 3}" width="{_RIGHT - _LEFT}" height="{_BOTTOM - _TOP + 6}"/>'
            + "".join(out)
            + f'<text x="{_RIGHT + 4}" y="{_TOP + 8}" class="label">{esc(head)}</text>'
            f'<text x="{_RIGHT + 4}" y="{_TOP + 20}" class="label">{esc(tail)}</text>'
            f'<text x="{_LEFT}" y="{HEIGHT - 3}" class="label">{first}</text>'
            f'<text x="{_RIGHT}" y="{HEIGHT - 3}" class="label" text-anchor="end">{last}</text></svg>')


def legend() -> str:
    """The key to the charts' shapes and lines, drawn with the same marks."""
    items: Sequence[tuple[str | None, str]] = ((MET, "met"), (OVER, "over"), (NEAR, "near"), (MISSED, "missed"))
    out, x = [], 6.0
    for status, word in items:
        colour = _COLOURS[status or ""]
        out.append(f'<g fill="{colour}" stroke="{colour}">{_shape(status, x, 9)}</g>'
                   f'<text x="{_num(x + 7)}" y="13" class="label">{word}</text>')
        x += 52
    out.append(f'<line class="target" x1="{_num(x)}" x2="{_num(x + 18)}" y1="9" y2="9"/>'
               f'<text x="{_num(x + 22)}" y="13" class="label">target (band edges)</text>')
    x += 130
    out.append(f'<rect class="tolerance" x="{_num(x)}" y="4" width="18" height="10"/>'
               f'<text x="{_num(x + 22)}" y="13" class="label">tolerance: near</text>')
    x += 110
    out.append(f'<text x="{_num(x)}" y="13" class="label">no point: no value</text>')
    width = x + 110
    return (f'<svg class="kpi-legend" xmlns="http://www.w3.org/2000/svg" role="img" width="{_num(width)}" '
            f'height="18" viewBox="0 0 {_num(width)} 18" aria-label="Key: circle met, diamond over, triangle near, '
            f'cross missed; dashed line the target (or the band edges), shaded the tolerance; no point where a quarter '
            f'has no value">' + "".join(out) + "</svg>")
