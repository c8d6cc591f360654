"""HTML and Markdown renderings of cycle's reports (jinja2), and workflow diagrams as SVG (Graphviz)."""
