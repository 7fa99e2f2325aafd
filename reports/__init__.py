"""HTML reports for rnnref run files (bench, compare) and findings files (diagnose).

Run as ``python -m reports {bench,compare,diagnose} ...``. This package reads
the JSON formats described in DESIGN.md and imports neither ``bench`` nor
``diagnostics`` nor torch.
"""
