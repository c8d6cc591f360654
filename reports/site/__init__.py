"""The governance site's pages (`cycle site build`) from cycle.site's record: plain HTML and CSS, every value from a
user escaped (Jinja2 autoescape), links relative so the folder can be opened, copied or served anywhere."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cycle.site import Record, body_page

from .. import text
from ..render import TEMPLATES, batched

HERE = Path(__file__).parent / "templates"
#: The portfolio's filter (a convenience: the table reads in full without it). Allowed by its hash alone, so no
#: other script (one a title smuggled in, say) could run even if it reached a page.
FILTER = (HERE / "filter.js").read_text(encoding="utf-8")
FILTER_HASH = "sha256-" + base64.b64encode(hashlib.sha256(FILTER.encode("utf-8")).digest()).decode("ascii")


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader([str(HERE), str(TEMPLATES)]), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=text.shown)
    env.globals.update(body_page=body_page, filter_script=FILTER, filter_hash=FILTER_HASH)
    return env


def _page(template: str, **values: Any) -> Iterator[str]:
    return batched(_env().get_template(template).generate(**values))


def pages(record: Record) -> Iterator[tuple[str, Iterator[str]]]:
    """Every page of the site as (its path in the site, its text in pieces): each project's first (the portfolio
    and the bodies are filled as they are read), then the bodies', then the portfolio."""
    site = {"generated": record.generated, "chain": record.chain, "quarter": record.quarter}
    d = {"chain": record.chain}
    for p in record.projects:
        yield p["page"], _page("project.html.j2", site=site, d=d, p=p, root="../")
    bodies = sorted(record.bodies.items(), key=lambda b: (b[0].casefold(), b[0]))
    for body, n in bodies:
        yield body_page(body), _page("body.html.j2", site=site, d=d, body=body, n=n, root="../",
                                     decisions=record.decisions.each_of(body))
    yield "bodies/index.html", _page("bodies.html.j2", site=site, d=d, bodies=bodies, root="../")
    yield "index.html", _page("portfolio.html.j2", site=site, d=d, rows=iter(record.portfolio),
                              n=len(record.portfolio), root="")
