"""Workflows and gates: a workflow's text and its validation (definition), the installed versions a project runs on
(registry), installing them (install), gate checks (gates), and the workflow as a graph to draw (graph)."""
