"""What a run was measured on: machine, CPU, library versions, threads, peak.

:func:`describe` gives the same ordered labels for every run, so the bench
report can show them and the compare report can line two runs up.
"""

from __future__ import annotations

from typing import Any

MACHINE_LABELS = ("machine", "CPU")
"""Labels whose difference means the runs come from different machines."""


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def describe(run: dict[str, Any]) -> dict[str, str]:
    """Ordered ``label -> text`` of the run's environment (missing values shown as '—')."""
    machine = run.get("machine_info") or {}
    cpu = machine.get("cpu") or {}
    meta = run["rnnref"]
    threads = sorted({str(b["extra_info"].get("threads")) for b in run["benchmarks"]})
    env = {
        "machine": _text(machine.get("node")),
        "CPU": _text(cpu.get("brand_raw") or machine.get("processor")),
        "CPU cores": _text(cpu.get("count")),
        "architecture": _text(cpu.get("arch") or machine.get("machine")),
        "OS": _text(" ".join(str(machine.get(k) or "") for k in ("system", "release")).strip()),
        "Python": _text(machine.get("python_version")),
    }
    versions = meta.get("versions") or {}
    if isinstance(versions, dict):
        known = {label.lower() for label in env}
        env.update(
            {name: _text(value) for name, value in versions.items() if name.lower() not in known}
        )
    env.update(
        {
            "GPU": _text(meta.get("gpu")),
            "threads": _text(threads) if threads else "—",
            "peak GFLOP/s": _text(meta.get("peak_gflops")),
            "preset": _text(meta.get("preset")),
            "timing": _timing(meta.get("timing")),
            "started": _text(run.get("datetime")),
        }
    )
    return env


def _timing(timing: Any) -> str:
    """How the rows were timed, e.g. '10 passes, 5-200 rounds, about 0.5 s per row'.

    Runs written before rows were timed in passes have no ``passes``: one block each.
    """
    if not isinstance(timing, dict):
        return "—"
    passes = timing.get("passes", 1)
    return (
        f"{passes} pass{'es' if passes != 1 else ''}, "
        f"{timing.get('min_rounds')}-{timing.get('max_rounds')} rounds, "
        f"about {timing.get('max_time_s')} s per row"
    )


def noise_warnings(run: dict[str, Any]) -> list[str]:
    """The run's noise warnings as lines of text (strings or objects, as bench wrote them)."""
    return [_text(w) for w in run["rnnref"].get("noise_warnings") or []]
