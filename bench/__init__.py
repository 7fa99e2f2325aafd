"""Benchmark matrix for recurrent layers: cases, presets, backends, run files, profiles.

``python -m bench`` runs a preset through pytest-benchmark, checks every row against
the float64 NumPy reference (``rnnref``) before timing it, and writes a run file and
an HTML report. See ``python -m bench --help``.
"""
