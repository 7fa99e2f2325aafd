"""Each backend's ``module`` proves what ran; the known traps are caught, not timed."""

import pytest
import torch
from torch import nn

from bench.backends import BACKENDS
from bench.cases import Case
from bench.paths import TrapError
from bench.problem import make_problem


def _problem(cell="lstm", backend="int8"):
    return make_problem(Case(cell, "inference", backend, 2, 4, 3, 5))


def test_bare_quantize_dynamic_is_the_trap_the_wrapper_avoids():
    bare = torch.ao.quantization.quantize_dynamic(nn.LSTM(3, 5), {nn.LSTM}, dtype=torch.qint8)
    assert type(bare) is nn.LSTM  # quantize_dynamic swaps children only: nothing was quantized
    runner = BACKENDS["int8"].build(_problem())
    assert runner.module == "torch.ao.nn.quantized.dynamic.modules.rnn.LSTM"
    assert runner.dtype == "qint8"


def test_a_layer_left_float_is_refused(monkeypatch):
    monkeypatch.setattr(torch.ao.quantization, "quantize_dynamic", lambda module, *a, **k: module)
    with pytest.raises(TrapError, match="unquantized"):
        BACKENDS["int8"].build(_problem())


def test_fp16_runs_a_quantized_gru():
    runner = BACKENDS["fp16"].build(_problem("gru", "fp16"))
    assert runner.module == "torch.ao.nn.quantized.dynamic.modules.rnn.GRU"


def test_bare_scripted_lstm_is_the_trap_the_wrapper_avoids():
    runner = BACKENDS["torchscript"].build(_problem(backend="torchscript"))
    assert runner.module.startswith("torch.jit._script.RecursiveScriptModule(LSTMWrapper/LSTM)")
    assert runner.extra["graph_nodes"] > 0


def test_torch_cell_really_loops_over_cells():
    runner = BACKENDS["torch-cell"].build(_problem("gru", "torch-cell"))
    assert runner.module == "bench.torchmods.CellLoop(torch.nn.modules.rnn.GRUCell)"


def test_numpy_runs_rnnref_and_torch_runs_nn():
    assert BACKENDS["numpy"].build(_problem(backend="numpy")).module == "rnnref.layers.LSTM"
    assert BACKENDS["torch"].build(_problem(backend="torch")).module == "torch.nn.modules.rnn.LSTM"


def test_compile_without_a_graph_is_refused(monkeypatch):
    """If dynamo compiled nothing (allow_rnn ignored), the row must not be timed as compiled."""
    monkeypatch.setattr(torch, "compile", lambda module, **kwargs: module)
    with pytest.raises(TrapError, match="no graph"):
        BACKENDS["compile"].build(_problem(backend="compile"))
