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
    "load_workflow", "verify_audit", "verify_all",
]

_LAZY = {
    "open_store": ("cycle.store", "open_store"),
    "Store": ("cycle.store", "Store"),
    "advance": ("cycle.engine", "advance"),
    "add_evidence": ("cycle.engine", "add_evidence"),
    "record_decision": ("cycle.engine", "record_decision"),
    "create_project": ("cycle.engine", "create_project"),
    "check_gate": ("cycle.views", "check_gate"),
    "load_workflow": ("cycle.registry", "load"),
    "verify_audit": ("cycle.audit", "verify"),
    "verify_all": ("cycle.verification", "verify_all"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cycle' has no attribute {name!r}") from None
    return getattr(import_module(module), attr)
