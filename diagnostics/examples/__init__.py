"""Models written the way tutorials and public examples write them: the one collection the
tests, the documentation and the evaluation share.

Each single-model module has ``build()`` and an ``INPUT`` spec; :mod:`tutorial_models`
holds several (pytorch/examples' word language model with ``init_hidden``, d2l's
``begin_state`` model, the float64 LSTMCell time-sequence model, a packed bidirectional
sentiment LSTM, the PyTorch tutorial's tagger), one factory each. Run one::

    python -m diagnostics diagnostics/examples/stacked_rnn.py:build --input "float32[32,28,28]"
"""
