"""usermodel.calling: how bench model and diagnostics call the user's model."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

from diagnostics.examples.seq_regression import build as seq_regression
from diagnostics.examples.tutorial_models import begin_state_lm, time_sequence, word_lm
from usermodel import UsageError
from usermodel.calling import (
    floating_outputs,
    match_input,
    model_dtype,
    plan_call,
    run_model,
    select_output,
)


def test_a_word_lm_gets_the_state_init_hidden_makes_for_the_batch_of_a_sequence_first_input():
    model = word_lm().eval()
    x = torch.randint(0, 50, (35, 20))  # (seq, batch) token ids, as pytorch/examples batchify
    call = plan_call(model, x)
    assert call.description == "model(x, model.init_hidden(bsz=20))"
    (h0, c0), *_ = call.args
    assert h0.shape == c0.shape == (2, 20, 24) and not h0.requires_grad
    output, (h_n, _) = run_model(model, x)
    assert output.shape == (35 * 20, 50) and h_n.shape == (2, 20, 24)


def test_begin_state_gets_the_batch_size_and_device_and_the_batch_dimension_is_tried():
    model = begin_state_lm().eval()
    seen: list[int] = []
    model.rnn.register_forward_hook(lambda *_: seen.append(1))
    x = torch.randint(0, 50, (3, 7))  # (batch, steps): the model transposes it
    rng = torch.random.get_rng_state()
    call = plan_call(model, x)
    # its GRU is sequence-first, so the second dimension (7) was tried first and refused
    assert call.description == "model(x, model.begin_state(device=cpu, batch_size=3))"
    assert seen == [] and torch.equal(rng, torch.random.get_rng_state())  # nobody's probe
    run_model(model, x)
    assert seen == [1]


def test_a_required_state_without_a_maker_is_none_and_keyword_only_arguments_are_named():
    model = seq_regression()
    x = torch.randn(5, 2, 4)
    assert plan_call(model, x).description == "model(x, None)"
    assert run_model(model, x)[0].shape == (5, 2, 1)

    class Masked(nn.Module):
        def forward(self, x, *, mask):
            return x if mask is None else x * mask

    assert plan_call(Masked(), x).description == "model(x, mask=None)"
    assert torch.equal(run_model(Masked(), x), x)


def test_a_state_maker_that_fits_no_dimension_is_one_usage_error():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 8)

        def init_hidden(self, bsz):
            return torch.zeros(1, bsz + 1, 8)

        def forward(self, x, hidden):
            return self.rnn(x, hidden)[0]

    with pytest.raises(UsageError, match=r"init_hidden\(batch\)\) failed for batch in 2, 5, 4"):
        plan_call(Broken(), torch.randn(5, 2, 4))


def test_the_input_and_the_state_follow_the_models_dtype():
    model = time_sequence(hidden=5)
    assert model_dtype(model) == torch.float64
    x = match_input(model, torch.randn(2, 6))
    assert x.dtype == torch.float64 and run_model(model, x).dtype == torch.float64
    lm = word_lm().double()
    tokens = match_input(lm, torch.randint(0, 50, (4, 3)))
    assert tokens.dtype == torch.int64  # ids stay ids
    call = plan_call(lm, tokens)
    assert call.args[0][0].dtype == torch.float64
    assert call.to(torch.bfloat16).args[0][1].dtype == torch.bfloat16


def test_every_floating_output_is_found_with_where_it_is():
    packed = pack_sequence([torch.randn(3, 2), torch.randn(1, 2)])
    output = {"logits": torch.randn(2, 3), "ids": torch.tensor([1]), "rest": (packed, [1.0])}
    found = floating_outputs(output)
    assert [where for where, _ in found] == ["output['logits']", "output['rest'][0].data"]
    tensor, which = select_output(output)
    assert tensor is output["logits"] and which == "output['logits'] (2, 3)"
    with pytest.raises(UsageError, match="no floating-point tensor"):
        select_output((torch.tensor([1]),))
