"""Benchmark matrix for recurrent layers: cases, presets, backends, run files, profiles.

``python -m bench`` runs a preset (or, with ``--shape``, the user's own shapes) through
pytest-benchmark, checks every row against the float64 NumPy reference (``rnnref``)
before timing it, and writes a run file and an HTML report. ``python -m bench model``
does the same for the user's whole model under each deployment path
(:mod:`bench.model`) and for its recurrent layers at the shapes they see
(:mod:`bench.seen`). See ``python -m bench --help``.
"""
