"""SVG through Graphviz's `dot` (Debian package graphviz) when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

INSTALL = "SVG needs Graphviz: install it with `sudo apt-get install graphviz` (or use --format dot or mermaid)"


def svg(dot_text: str) -> str | None:
    """The diagram as an inline <svg> element, or None when Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    done = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=30, check=True)
    body = done.stdout
    start = body.find("<svg")
    body = body[start:] if start >= 0 else body
    return re.sub(r"<!--.*?-->", "", body, flags=re.S).strip()
