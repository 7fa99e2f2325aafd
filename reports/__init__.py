"""HTML reports for rnnref run files (bench, compare) and findings files (diagnose).

Run as ``python -m reports {bench,compare,diagnose,table,history} ...``; in
Python, :func:`load_runs` gives run files as one ``pandas.DataFrame``. This package reads
the JSON formats described in DESIGN.md and imports neither ``bench`` nor
``diagnostics`` nor torch.
"""

from typing import Any

__all__ = ["load_runs"]


def __getattr__(name: str) -> Any:
    """``reports.load_runs``, imported on first use (pandas is not needed by every command)."""
    if name == "load_runs":
        from reports.frame import load_runs

        return load_runs
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
