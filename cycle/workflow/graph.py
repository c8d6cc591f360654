"""A workflow as a diagram: Graphviz dot and Mermaid text, with how many projects stand at each stage."""

from __future__ import annotations

from collections.abc import Mapping

from .definition import Workflow


def _label(title: str, count: int | None, newline: str = "\\n") -> str:
    return title if count is None else f"{title}{newline}{count} project{'' if count == 1 else 's'}"


def _dot_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def dot(wf: Workflow, counts: Mapping[str, int] | None = None, rankdir: str = "LR") -> str:
    """`rankdir` TB (top to bottom) keeps a diagram narrow enough to print on a page at its own size."""
    lines = [f'digraph "{_dot_text(wf.name)}" {{', f"  rankdir={'TB' if rankdir == 'TB' else 'LR'};",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3f8", color="#1d4f91", '
             'fontname="Helvetica", fontsize=11];',
             '  edge [color="#505a5f", fontname="Helvetica", fontsize=9];']
    for s in wf.stages:
        count = counts.get(s.id, 0) if counts is not None else None
        fill = ', fillcolor="#ffdd00"' if count else ""
        shape = ", peripheries=2" if s.final else ""
        lines.append(f'  "{s.id}" [label="{_dot_text(_label(s.title, count))}"{fill}{shape}];')
    for g in wf.gates:
        style = ", style=dashed" if g.explicit else ""
        lines.append(f'  "{g.source}" -> "{g.dest}" [label="{_dot_text(g.id)}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(value: str) -> str:
    return value.replace('"', "#quot;")


def mermaid(wf: Workflow, counts: Mapping[str, int] | None = None) -> str:
    lines = ["flowchart LR"]
    for s in wf.stages:
        count = counts.get(s.id, 0) if counts is not None else None
        label = _label(s.title, count, newline="<br/>")
        open_, close = ("((", "))") if s.final else ("(", ")")
        lines.append(f'  {s.id.replace("-", "_")}{open_}"{_mermaid_text(label)}"{close}')
    for g in wf.gates:
        arrow = "-.->" if g.explicit else "-->"
        lines.append(f"  {g.source.replace('-', '_')} {arrow}|{g.id}| {g.dest.replace('-', '_')}")
    return "\n".join(lines) + "\n"
