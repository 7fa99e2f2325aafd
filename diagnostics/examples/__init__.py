"""Models written the way tutorials write them; each module has ``build()`` and an INPUT spec.

Run one::

    python -m diagnostics diagnostics/examples/stacked_rnn.py:build --input "float32[32,28,28]"
"""
