"""The commands of `cycle`, one module per noun group (`cycle project ...` is project.py), with what they share in
_common.py and what they print for a person in output.py. cli.py is the root group that gathers them.

This is a package of its own, beside cycle/, because the library may not import click: parse, call cycle, print."""
