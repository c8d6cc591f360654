"""cycle: a workflow engine for the commissioning and decommissioning cycle.

The public API is imported lazily, so that `import cycle` (and `cycle --help`) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__
from .errors import BadInput, CycleError, GateNotMet, ProjectNotFound, StaleProject, WorkflowInvalid

__all__ = [
    "__version__", "CycleError", "BadInput", "GateNotMet", "ProjectNotFound", "StaleProject", "WorkflowInvalid",
    "open_store", "Store", "advance", "add_evidence", "record_decision", "create_project", "check_gate",
    "load_workflow", "verify_all",
]

_LAZY = {
    "open_store": ("cycle.db.store", "open_store"),
    "Store": ("cycle.db.store", "Store"),
    "advance": ("cycle.projects.engine", "advance"),
    "add_evidence": ("cycle.projects.engine", "add_evidence"),
    "record_decision": ("cycle.projects.engine", "record_decision"),
    "create_project": ("cycle.projects.engine", "create_project"),
    "check_gate": ("cycle.projects.views", "check_gate"),
    "load_workflow": ("cycle.workflow.registry", "load"),
    "verify_all": ("cycle.audit.verify", "verify_all"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cycle' has no attribute {name!r}") from None
    return getattr(import_module(module), attr)
