"""Render report data (dicts from cycle.reports) as self-contained HTML or Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from cycle.inputs import json_safe
from cycle.performance import chart
from cycle.performance.portfolio import Charted
from cycle.workflow import graph
from cycle.workflow.definition import Workflow

from . import svg, text
from .text import md as _md

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=lambda name: bool(name and ".html" in name),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=text.shown)
    env.filters["md"] = _md
    env.globals["title"] = text.title
    env.filters["trend"] = chart.trend_shown
    env.globals["kpi_chart"] = lambda item, n: Markup(chart.svg(Charted.of(item), n))  # built escaped
    env.globals["kpi_legend"] = lambda: Markup(chart.legend())
    env.globals["kpi_target"] = lambda k: chart.target_text(k["better"], k["target"], k["low"], k["high"], k["unit"])
    env.globals["kpi_value"] = lambda k: chart.value_text(k["value"], k["unit"])
    return env


def diagrams(stage_counts: dict[str, dict[str, int]], workflows: dict[str, Workflow]) -> list[dict[str, Any]]:
    """For each workflow in the report (its newest installed version, from cycle.reports.workflows_in): its
    diagram with project counts, as SVG (or dot text without Graphviz)."""
    out = []
    for name, counts in sorted(stage_counts.items()):
        wf = workflows[name]
        dot = graph.dot(wf, counts, rankdir="TB")  # narrow: prints at its own size, text unshrunk
        out.append({"workflow": name, "title": wf.title, "svg": svg.svg(dot), "dot": dot,
                    "counts": [(s.title, counts.get(s.id, 0)) for s in wf.stages],
                    "install": svg.INSTALL})
    return out


def render(data: dict[str, Any], fmt: str, workflows: dict[str, Workflow] | None = None,
           titled: bool = False) -> Iterator[str]:
    """The report as text, in pieces as they are made (jinja2's generate(), JSON encoded a value at a time), so
    that no one string holds the whole of a long report; HTML draws the `workflows` it counts projects on.
    `titled`: Markdown without its title (reports.text.title), printed already."""
    if fmt == "json":
        pieces: Iterable[str] = chain(map(json_safe, _ENCODER.iterencode(data)), ["\n"])
    else:
        name = f"{data['report']}.{'html' if fmt == 'html' else 'md'}.j2"
        extra = {"diagrams": diagrams(data.get("stage_counts", {}), workflows or {})} if fmt == "html" else {}
        pieces = _env().get_template(name).generate(d=data, titled=titled, **extra)
    return batched(pieces)


# What json.dumps(data, indent=2, ensure_ascii=False) gives, a piece at a time.
_ENCODER = json.JSONEncoder(indent=2, ensure_ascii=False)


def batched(pieces: Iterable[str], size: int = 1 << 16) -> Iterator[str]:
    """`pieces` joined into chunks of about `size` characters: few writes, and the first comes at once."""
    batch: list[str] = []
    held = 0
    for piece in pieces:
        batch.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(batch)
            batch.clear()
            held = 0
    if batch:
        yield "".join(batch)
