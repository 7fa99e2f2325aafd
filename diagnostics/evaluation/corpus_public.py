"""The third corpus part, ``public``: models written after widely used public RNN code.

Each model is written here, small and seeded, after the structure of a public
repository that many people copy (pytorch/examples' word language model and
time-sequence LSTMCell loop, salesforce/awd-lstm-lm, bentrevett's seq2seq and
sentiment tutorials, spro's char-RNN, a CRNN, LSTNet, a DeepAR-style
forecaster, yunjey's bidirectional classifier, d2l's RNN models), not copied
from it. The faulty cases carry bugs reported in those projects' trackers (or
in the trackers of code written after them), each citing its issue or pull
request in ``issue``.

Every case is a :class:`PublicCase`: a :class:`diagnostics.evaluation.corpus.CorpusCase` that
also says where the structure comes from (``source``), which report the fault
comes from (``issue``), which recurrent modules a correct diagnosis must probe
as one recurrence across their chained calls (``chained``). Every
recurrent module of every public model must be probed: a model none of whose
layers was probed is never healthy. Two models torch cannot run as written (a
packed batch not sorted by length, an ``init_hidden`` for one layer of two)
must be refused in one line, exit 2, with torch's message (``refused``).

``ONE_END_READ`` and ``NOT_PROBED`` name the two codes the capture of layers as
they really run adds for these models.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from diagnostics.evaluation.corpus import CorpusCase

ONE_END_READ = "direction-read-at-one-end"
"""Warning: a bidirectional layer's output read at one step (``out[:, -1, :]``)."""
NOT_PROBED = "not-probed"
"""Warning: a model holding recurrent modules none of which could be probed."""


VOCAB = 40


@dataclass(frozen=True)
class PublicCase(CorpusCase):
    """A :class:`CorpusCase` with its provenance and what a correct diagnosis must probe.

    source: the public code whose structure the model follows (URL).
    issue: the issue or pull request reporting the fault (URL); None for a healthy case.
    chained: recurrent modules called once per step with the state carried from call
    to call; their probe must cover every chained step.
    refused: for a model torch cannot run as written, a text the diagnosis's refusal
    must contain: one line, exit 2 (a UsageError), torch's own message kept.
    """

    source: str = ""
    issue: str | None = None
    chained: tuple[str, ...] = ()
    refused: str | None = None


def probe_misses(case: PublicCase, modules: list[dict]) -> list[str]:
    """What a diagnosis left unprobed in ``case``'s model, one line each: a recurrent
    module never probed, a chained module probed over fewer steps than its calls carry.

    modules: findings.json's ``modules`` (``calls``, ``input_shape``, ``batch_first``,
    ``chunks``: [steps, detached] per call).
    """
    misses = [f"{m['name']}: not probed" for m in modules if not m["calls"]]
    names = {m["name"] for m in modules}
    misses += [f"{name}: no such recurrent module" for name in case.chained if name not in names]
    for m in modules:
        if m["name"] not in case.chained or not m["calls"]:
            continue
        chained = sum(steps for steps, _ in m["chunks"] or [])
        time_axis = 1 if m.get("batch_first") else 0
        probed = (m["input_shape"] or [0, 0])[time_axis]
        if probed < chained:
            misses.append(f"{m['name']}: probed {probed} of {chained} chained steps")
    return misses


def _tokens(steps: int, batch: int) -> torch.Tensor:
    """Token ids (steps, batch), time-major as torchtext and the word LM batch them."""
    return torch.randint(1, VOCAB, (steps, batch))


# --------------------------------------------------------------------------- language models


class WordRNNModel(nn.Module):
    """pytorch/examples word_language_model's RNNModel: embedding, dropout, a stacked
    LSTM/GRU/RNN_TANH/RNN_RELU, a decoder tied to the embedding, ``init_hidden``.

    input (T, B) token ids, hidden from ``init_hidden(B)`` or None ->
    log-probabilities (T * B, VOCAB) and the final hidden state.
    ``keep_state``: the hidden state is kept on the module between batches as it
    comes out of the layer (the training loop's ``repackage_hidden`` left out: the
    memory leak of pytorch/pytorch issue 2198, the question of yunjey/pytorch-tutorial
    issue 90).
    """

    def __init__(
        self, rnn_type: str = "LSTM", nhid: int = 24, nlayers: int = 2, keep_state: bool = False
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(VOCAB, nhid)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(nhid, nhid, nlayers, dropout=0.2)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(nhid, nhid, nlayers, nonlinearity=nonlinearity, dropout=0.2)
        self.decoder = nn.Linear(nhid, VOCAB)
        self.decoder.weight = self.encoder.weight  # tied (Press & Wolf 2016)
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers
        self.keep_state = keep_state
        self.hidden: torch.Tensor | tuple | None = None
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def init_hidden(self, bsz: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Zeros (nlayers, bsz, nhid); a pair of them for an LSTM."""
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (
                weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid),
            )
        return weight.new_zeros(self.nlayers, bsz, self.nhid)

    def forward(
        self, input: torch.Tensor, hidden: torch.Tensor | tuple | None
    ) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        if self.keep_state:
            hidden = self.hidden
        if hidden is None:
            hidden = self.init_hidden(input.size(1))
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        if self.keep_state:
            self.hidden = hidden
        decoded = self.decoder(self.drop(output)).view(-1, VOCAB)
        return F.log_softmax(decoded, dim=1), hidden


class OneLayerInitHidden(WordRNNModel):
    """The word LM with an ``init_hidden`` written for one layer, ``(1, bsz, nhid)``,
    while the LSTM has ``nlayers`` = 2 (the report of
    aladdinpersson/Machine-Learning-Collection issue 110): torch refuses the state."""

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeros (1, bsz, nhid), twice."""
        weight = next(self.parameters())
        return weight.new_zeros(1, bsz, self.nhid), weight.new_zeros(1, bsz, self.nhid)


class LockedDropout(nn.Module):
    """AWD-LSTM's variational dropout: one mask per sequence, shared by its time steps.

    x (T, B, H) -> (T, B, H).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.p:
            return x
        mask = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


class WeightDrop(nn.Module):
    """salesforce/awd-lstm-lm's WeightDrop: DropConnect on ``weight_hh_l0``.

    The LSTM's ``weight_hh_l0`` Parameter becomes ``weight_hh_l0_raw`` on the LSTM;
    before every call a dropped copy (a plain tensor, in the graph of the raw
    Parameter) is set as ``weight_hh_l0`` and the LSTM is run through
    ``module.forward`` (so no module hook fires).
    ``parameter_wrap``: the dropped copy is set as ``nn.Parameter(w)``, as
    weight_drop.py does since the workaround for the TypeError of PyTorch >= 1.0
    (salesforce/awd-lstm-lm issues 79 and 114); the new Parameter is a leaf, so
    ``weight_hh_l0_raw`` is cut out of the graph and never trains.
    """

    def __init__(self, module: nn.LSTM, dropout: float, parameter_wrap: bool = False) -> None:
        super().__init__()
        self.module, self.dropout, self.parameter_wrap = module, dropout, parameter_wrap
        raw = module.weight_hh_l0
        del module._parameters["weight_hh_l0"]
        module.register_parameter("weight_hh_l0_raw", nn.Parameter(raw.detach().clone()))

    def forward(self, *args: object) -> object:
        raw = self.module.weight_hh_l0_raw
        w = F.dropout(raw, p=self.dropout, training=self.training)
        self.module.weight_hh_l0 = nn.Parameter(w) if self.parameter_wrap else w
        return self.module.forward(*args)


class WeightDropoutLeaf(nn.Module):
    """fastai's WeightDropout with the fault reported in fastai/fastai2 PR 427 and
    fastai/fastai issue 2591: the dropped weight is put back into the LSTM as a new
    leaf Parameter, so ``weight_hh_l0_raw`` (the one the optimiser holds) is cut out
    of the graph and never gets a gradient."""

    def __init__(self, module: nn.LSTM, weight_p: float) -> None:
        super().__init__()
        self.module, self.weight_p = module, weight_p
        raw = module.weight_hh_l0
        self.register_parameter("weight_hh_l0_raw", nn.Parameter(raw.detach().clone()))
        del module._parameters["weight_hh_l0"]

    def forward(self, *args: object) -> object:
        dropped = F.dropout(self.weight_hh_l0_raw, p=self.weight_p, training=self.training)
        self.module.weight_hh_l0 = nn.Parameter(dropped.detach())
        return self.module(*args)


class AWDLSTM(nn.Module):
    """salesforce/awd-lstm-lm's RNNModel: embedding, 3 weight-dropped LSTMs of different
    sizes (the last one as wide as the embedding, for the tied decoder), locked
    dropout between them.

    input (T, B) token ids -> logits (T, B, VOCAB). ``weight_drop`` wraps each LSTM
    with its dropout probability: :class:`WeightDrop` (default), or one of the faulty
    weight drops.
    """

    def __init__(
        self,
        ninp: int = 16,
        nhid: int = 32,
        weight_drop: Callable[[nn.LSTM, float], nn.Module] = WeightDrop,
    ) -> None:
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, ninp)
        self.lockdrop = LockedDropout(0.3)
        sizes = [(ninp, nhid), (nhid, nhid), (nhid, ninp)]
        self.rnns = nn.ModuleList(weight_drop(nn.LSTM(i, o), 0.5) for i, o in sizes)
        self.decoder = nn.Linear(ninp, VOCAB)
        self.decoder.weight = self.encoder.weight

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        output = self.lockdrop(self.encoder(input))
        for rnn in self.rnns:
            output, _ = rnn(output)
            output = self.lockdrop(output)
        return self.decoder(output)


# --------------------------------------------------------------------------- time series


class SineSequence(nn.Module):
    """pytorch/examples time_sequence_prediction's Sequence: two LSTMCells stepped over
    the signal one value at a time, then ``future`` steps fed their own prediction;
    the model is ``.double()``.

    input (B, T) float64 -> (B, T + future).
    """

    def __init__(self, hidden: int = 24, future: int = 5) -> None:
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)
        self.hidden, self.future = hidden, future

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        batch = input.size(0)
        h_t, c_t, h_t2, c_t2 = (
            torch.zeros(batch, self.hidden, dtype=input.dtype) for _ in range(4)
        )
        outputs = []
        output = input[:, :1]
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs.append(output)
        for _ in range(self.future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs.append(output)
        return torch.cat(outputs, dim=1)


class LSTNet(nn.Module):
    """laiguokun/LSTNet: a convolution over (time, series), a GRU over its columns, a
    skip GRU over the steps ``skip`` apart, and a linear autoregressive highway.

    x (B, P, m) windows of m series -> (B, m) next values.
    """

    def __init__(
        self,
        window: int = 48,
        series: int = 4,
        hid_c: int = 12,
        hid_r: int = 16,
        hid_s: int = 6,
        kernel: int = 6,
        skip: int = 8,
        highway: int = 8,
    ) -> None:
        super().__init__()
        self.window, self.series, self.hid_c, self.hid_s = window, series, hid_c, hid_s
        self.skip, self.highway_window = skip, highway
        self.pt = (window - kernel) // skip
        self.conv1 = nn.Conv2d(1, hid_c, kernel_size=(kernel, series))
        self.GRU1 = nn.GRU(hid_c, hid_r)
        self.GRUskip = nn.GRU(hid_c, hid_s)
        self.dropout = nn.Dropout(0.2)
        self.linear1 = nn.Linear(hid_r + skip * hid_s, series)
        self.highway = nn.Linear(highway, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        c = F.relu(self.conv1(x.view(-1, 1, self.window, self.series)))
        c = self.dropout(c).squeeze(3)  # (B, hid_c, P - kernel + 1)
        _, r = self.GRU1(c.permute(2, 0, 1))
        r = self.dropout(r.squeeze(0))
        s = c[:, :, -self.pt * self.skip :].contiguous()
        s = s.view(batch, self.hid_c, self.pt, self.skip).permute(2, 0, 3, 1)
        _, s = self.GRUskip(s.contiguous().view(self.pt, batch * self.skip, self.hid_c))
        s = self.dropout(s.view(batch, self.skip * self.hid_s))
        res = self.linear1(torch.cat((r, s), 1))
        z = x[:, -self.highway_window :, :].permute(0, 2, 1).contiguous()
        z = self.highway(z.view(-1, self.highway_window)).view(-1, self.series)
        return res + z


class DeepAR(nn.Module):
    """A DeepAR-style forecaster (Salinas et al.; the PyTorch port zhykoties/TimeSeries):
    an LSTM stepped one time step per call, its input the previous value, the
    covariates and a series embedding; a Gaussian head (mu, softplus sigma) on the
    hidden state of every layer.

    x (T, B, 1 + covariates) time-major; the series id is the batch index ->
    (T, B, 2): mu and sigma per step.
    """

    def __init__(self, covariates: int = 3, hidden: int = 16, layers: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(8, 4)
        self.lstm = nn.LSTM(1 + covariates + 4, hidden, layers, dropout=0.1)
        for names in self.lstm._all_weights:  # forget-gate bias 1, as the port does
            for name in filter(lambda n: "bias" in n, names):
                bias = getattr(self.lstm, name)
                with torch.no_grad():
                    bias[hidden : 2 * hidden].fill_(1.0)
        self.mu = nn.Linear(hidden * layers, 1)
        self.presigma = nn.Linear(hidden * layers, 1)
        self.hidden, self.layers = hidden, layers

    def step(
        self, x: torch.Tensor, idx: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step: x (1, B, 1 + covariates) -> mu (B,), sigma (B,), hidden, cell."""
        lstm_input = torch.cat((x, self.embedding(idx)), dim=2)
        _, (hidden, cell) = self.lstm(lstm_input, (hidden, cell))
        flat = hidden.permute(1, 2, 0).contiguous().view(hidden.size(1), -1)
        return self.mu(flat).squeeze(1), F.softplus(self.presigma(flat)).squeeze(1), hidden, cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(1)
        idx = (torch.arange(batch) % 8).unsqueeze(0)
        hidden = torch.zeros(self.layers, batch, self.hidden)
        cell = torch.zeros(self.layers, batch, self.hidden)
        outputs = []
        for t in range(x.size(0)):
            mu, sigma, hidden, cell = self.step(x[t].unsqueeze(0), idx, hidden, cell)
            outputs.append(torch.stack((mu, sigma), dim=1))
        return torch.stack(outputs)


# --------------------------------------------------------------------------- seq2seq


class Encoder(nn.Module):
    """bentrevett/pytorch-seq2seq 1's encoder: embedding, dropout, a 2-layer LSTM.

    src (S, B) -> the final (hidden, cell), each (2, B, H).
    """

    def __init__(self, emb: int = 16, hid: int = 24, layers: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, emb)
        self.rnn = nn.LSTM(emb, hid, layers, dropout=0.2)
        self.dropout = nn.Dropout(0.2)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (hidden, cell) = self.rnn(self.dropout(self.embedding(src)))
        return hidden, cell


class Decoder(nn.Module):
    """bentrevett/pytorch-seq2seq 1's decoder, called once per target token.

    input (B,) token ids, hidden and cell (2, B, H) -> logits (B, VOCAB), hidden, cell.
    """

    def __init__(self, emb: int = 16, hid: int = 24, layers: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, emb)
        self.rnn = nn.LSTM(emb, hid, layers, dropout=0.2)
        self.fc_out = nn.Linear(hid, VOCAB)
        self.dropout = nn.Dropout(0.2)

    def forward(
        self, input: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        embedded = self.dropout(self.embedding(input.unsqueeze(0)))
        output, (hidden, cell) = self.rnn(embedded, (hidden, cell))
        return self.fc_out(output.squeeze(0)), hidden, cell


class Seq2Seq(nn.Module):
    """bentrevett/pytorch-seq2seq 1: the encoder's final state starts the decoder, which
    is stepped one token per call, fed the target (teacher forcing) or its own argmax.

    src (S, B) and trg (T, B) -> logits (T, B, VOCAB), the first step zeros.
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.decoder = Encoder(), Decoder()

    def forward(
        self, src: torch.Tensor, trg: torch.Tensor, teacher_forcing_ratio: float = 0.5
    ) -> torch.Tensor:
        outputs = torch.zeros(trg.size(0), trg.size(1), VOCAB)
        hidden, cell = self.encoder(src)
        input = trg[0]
        for t in range(1, trg.size(0)):
            output, hidden, cell = self.decoder(input, hidden, cell)
            outputs[t] = output
            input = trg[t] if random.random() < teacher_forcing_ratio else output.argmax(1)
        return outputs


class AttnEncoder(nn.Module):
    """bentrevett/pytorch-seq2seq 3's encoder: a bidirectional GRU; the decoder's first
    hidden state is tanh(fc([h_fwd; h_bwd])).

    src (S, B) -> outputs (S, B, 2 * enc_hid), hidden (B, dec_hid).
    """

    def __init__(self, emb: int = 16, enc_hid: int = 16, dec_hid: int = 24) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, emb)
        self.rnn = nn.GRU(emb, enc_hid, bidirectional=True)
        self.fc = nn.Linear(enc_hid * 2, dec_hid)
        self.dropout = nn.Dropout(0.2)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, hidden = self.rnn(self.dropout(self.embedding(src)))
        hidden = torch.tanh(self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1)))
        return outputs, hidden


class Attention(nn.Module):
    """Additive attention: hidden (B, dec_hid), encoder outputs (S, B, 2 * enc_hid) ->
    weights (B, S)."""

    def __init__(self, enc_hid: int = 16, dec_hid: int = 24) -> None:
        super().__init__()
        self.attn = nn.Linear(enc_hid * 2 + dec_hid, dec_hid)
        self.v = nn.Linear(dec_hid, 1, bias=False)

    def forward(self, hidden: torch.Tensor, encoder_outputs: torch.Tensor) -> torch.Tensor:
        src_len = encoder_outputs.size(0)
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)
        encoder_outputs = encoder_outputs.permute(1, 0, 2)
        energy = torch.tanh(self.attn(torch.cat((hidden, encoder_outputs), dim=2)))
        return F.softmax(self.v(energy).squeeze(2), dim=1)


class AttnDecoder(nn.Module):
    """bentrevett/pytorch-seq2seq 3's decoder: a GRU over [embedding; attention-weighted
    context], called once per target token.

    input (B,), hidden (B, dec_hid), encoder outputs (S, B, 2 * enc_hid) ->
    logits (B, VOCAB), hidden (B, dec_hid).
    """

    def __init__(self, emb: int = 16, enc_hid: int = 16, dec_hid: int = 24) -> None:
        super().__init__()
        self.attention = Attention(enc_hid, dec_hid)
        self.embedding = nn.Embedding(VOCAB, emb)
        self.rnn = nn.GRU(enc_hid * 2 + emb, dec_hid)
        self.fc_out = nn.Linear(enc_hid * 2 + dec_hid + emb, VOCAB)
        self.dropout = nn.Dropout(0.2)

    def forward(
        self, input: torch.Tensor, hidden: torch.Tensor, encoder_outputs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = self.dropout(self.embedding(input.unsqueeze(0)))
        a = self.attention(hidden, encoder_outputs).unsqueeze(1)
        weighted = torch.bmm(a, encoder_outputs.permute(1, 0, 2)).permute(1, 0, 2)
        output, hidden = self.rnn(torch.cat((embedded, weighted), dim=2), hidden.unsqueeze(0))
        prediction = self.fc_out(torch.cat((output, weighted, embedded), dim=2).squeeze(0))
        return prediction, hidden.squeeze(0)


class AttnSeq2Seq(nn.Module):
    """bentrevett/pytorch-seq2seq 3: attention encoder-decoder, the decoder stepped per token.

    src (S, B), trg (T, B) -> logits (T, B, VOCAB).
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.decoder = AttnEncoder(), AttnDecoder()

    def forward(
        self, src: torch.Tensor, trg: torch.Tensor, teacher_forcing_ratio: float = 0.5
    ) -> torch.Tensor:
        outputs = torch.zeros(trg.size(0), trg.size(1), VOCAB)
        encoder_outputs, hidden = self.encoder(src)
        input = trg[0]
        for t in range(1, trg.size(0)):
            output, hidden = self.decoder(input, hidden, encoder_outputs)
            outputs[t] = output
            input = trg[t] if random.random() < teacher_forcing_ratio else output.argmax(1)
        return outputs


class TrainingStep(nn.Module):
    """One training batch bound to the model: ``model(src, trg, ratio)`` as the training
    loop calls it, with the batch's target tokens (T, B) held here."""

    def __init__(self, model: nn.Module, trg: torch.Tensor, teacher_forcing_ratio: float) -> None:
        super().__init__()
        self.model, self.ratio = model, teacher_forcing_ratio
        self.register_buffer("trg", trg)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        random.seed(0)
        return self.model(src, self.trg, self.ratio)


# --------------------------------------------------------------------------- classifiers


class PackedSentimentLSTM(nn.Module):
    """bentrevett/pytorch-sentiment-analysis 2: embedding, a 2-layer bidirectional LSTM
    over a packed batch, the final states of both directions concatenated.

    text (T, B) right-padded with id 0, lengths (B,) sorted descending (or None:
    counted from the padding) -> (B, 1).
    """

    def __init__(self, emb: int = 16, hid: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, emb, padding_idx=0)
        self.rnn = nn.LSTM(emb, hid, num_layers=2, bidirectional=True, dropout=0.2)
        self.fc = nn.Linear(hid * 2, 1)
        self.dropout = nn.Dropout(0.2)

    def forward(self, text: torch.Tensor, text_lengths: torch.Tensor | None) -> torch.Tensor:
        if text_lengths is None:
            text_lengths = (text != 0).sum(0)
        embedded = self.dropout(self.embedding(text))
        packed = pack_padded_sequence(embedded, text_lengths.cpu())
        _, (hidden, _) = self.rnn(packed)
        return self.fc(self.dropout(torch.cat((hidden[-2], hidden[-1]), dim=1)))


class BiRNN(nn.Module):
    """yunjey/pytorch-tutorial's bidirectional RNN classifier on MNIST rows: h0 and c0
    built in forward, a head on the output's last step.

    x (B, 28, 28) -> (B, 10). ``both_ends``: the fix proposed in yunjey/pytorch-tutorial
    PR 174, the forward direction at the last step and the reverse one at the first.
    """

    def __init__(self, cell: type[nn.RNNBase] = nn.LSTM, both_ends: bool = False) -> None:
        super().__init__()
        self.hidden_size, self.num_layers = 32, 2
        self.rnn = cell(28, 32, 2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(64, 10)
        self.both_ends = both_ends

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.num_layers * 2, x.size(0), self.hidden_size)
        state = (h0, torch.zeros_like(h0)) if isinstance(self.rnn, nn.LSTM) else h0
        out, _ = self.rnn(x, state)
        if self.both_ends:
            hidden = self.hidden_size
            return self.fc(torch.cat((out[:, -1, :hidden], out[:, 0, hidden:]), dim=1))
        return self.fc(out[:, -1, :])


class BidirectionalLSTM(nn.Module):
    """meijieru/crnn.pytorch's BidirectionalLSTM: a bidirectional LSTM and a linear
    embedding of every step. input (T, B, n_in) -> (T, B, n_out)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(n_in, n_hidden, bidirectional=True)
        self.embedding = nn.Linear(n_hidden * 2, n_out)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.rnn(input)
        steps, batch, width = recurrent.size()
        return self.embedding(recurrent.view(steps * batch, width)).view(steps, batch, -1)


class CRNN(nn.Module):
    """meijieru/crnn.pytorch's CRNN in miniature: a conv stack to one row, its columns
    as time steps, two stacked BidirectionalLSTMs, per-column class logits for CTC.

    images (B, 1, 16, W) -> log-probabilities (W / 4, B, 11).
    """

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 8, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, 1, 1),
            nn.BatchNorm2d(16),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 16, (4, 1)),
            nn.ReLU(True),
        )
        self.rnn = nn.Sequential(BidirectionalLSTM(16, 16, 16), BidirectionalLSTM(16, 16, 11))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        conv = self.cnn(images).squeeze(2).permute(2, 0, 1)  # (W/4, B, 16)
        return F.log_softmax(self.rnn(conv), dim=2)


# --------------------------------------------------------------------------- char models


class CharRNN(nn.Module):
    """spro/char-rnn.pytorch's CharRNN: embedding, a GRU (or LSTM) called with one
    character per call, a decoder; ``init_hidden``.

    input (B,) character ids, hidden (n_layers, B, H) -> logits (B, VOCAB), hidden.
    """

    def __init__(self, model: str = "gru", hidden: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        self.model, self.hidden_size, self.n_layers = model, hidden, n_layers
        self.encoder = nn.Embedding(VOCAB, hidden)
        cell = nn.GRU if model == "gru" else nn.LSTM
        self.rnn = cell(hidden, hidden, n_layers)
        self.decoder = nn.Linear(hidden, VOCAB)

    def init_hidden(self, batch: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Zeros (n_layers, batch, hidden); a pair for an LSTM."""
        zeros = torch.zeros(self.n_layers, batch, self.hidden_size)
        return (zeros, zeros.clone()) if self.model == "lstm" else zeros

    def forward(
        self, input: torch.Tensor, hidden: torch.Tensor | tuple
    ) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        batch = input.size(0)
        output, hidden = self.rnn(self.encoder(input).view(1, batch, -1), hidden)
        return self.decoder(output.view(batch, -1)), hidden


class CharChunk(nn.Module):
    """spro/char-rnn.pytorch's ``train(inp, target)``: a fresh hidden state, then the
    chunk one character per call. chunk (B, T) ids -> logits (B, T, VOCAB)."""

    def __init__(self, model: str = "gru") -> None:
        super().__init__()
        self.decoder = CharRNN(model)

    def forward(self, chunk: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder.init_hidden(chunk.size(0))
        outputs = []
        for c in range(chunk.size(1)):
            output, hidden = self.decoder(chunk[:, c], hidden)
            outputs.append(output)
        return torch.stack(outputs, dim=1)


class D2LRNNModel(nn.Module):
    """d2l.ai's RNNModel (concise RNN chapter): one-hot inputs, an nn.RNN/GRU/LSTM
    layer, a linear output on every step, ``begin_state``.

    inputs (B, T) token ids, state -> logits (T * B, VOCAB), state.
    """

    def __init__(self, rnn_layer: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn_layer
        self.num_hiddens = rnn_layer.hidden_size
        self.num_directions = 2 if rnn_layer.bidirectional else 1
        self.linear = nn.Linear(self.num_hiddens * self.num_directions, VOCAB)

    def forward(
        self, inputs: torch.Tensor, state: torch.Tensor | tuple | None
    ) -> tuple[torch.Tensor, torch.Tensor | tuple]:
        if state is None:
            state = self.begin_state(inputs.size(0))
        X = F.one_hot(inputs.T.long(), VOCAB).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape(-1, Y.shape[-1])), state

    def begin_state(self, batch_size: int = 1) -> torch.Tensor | tuple:
        """Zeros (directions * layers, batch, hidden); a pair for an LSTM."""
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        if isinstance(self.rnn, nn.LSTM):
            return torch.zeros(shape), torch.zeros(shape)
        return torch.zeros(shape)


class Summarizer(nn.Module):
    """A GRU encoder-decoder summariser whose encoder state is initialised once, at the
    first batch, and then carried from batch to batch with its graph (the bug fixed in
    JulesBelveze/text-summarizer PR 8, "init hidden state encoder at each batch").

    text (B, T) ids -> logits (B, T, VOCAB).
    """

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.encoder = nn.GRU(16, 24, batch_first=True)
        self.decoder = nn.GRU(16, 24, batch_first=True)
        self.out = nn.Linear(24, VOCAB)
        self.encoder_hidden: torch.Tensor | None = None

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        if self.encoder_hidden is None:
            self.encoder_hidden = torch.zeros(1, text.size(0), 24)
        _, self.encoder_hidden = self.encoder(self.embed(text), self.encoder_hidden)
        out, _ = self.decoder(self.embed(text.flip(1)), self.encoder_hidden)
        return self.out(out)


class FMRILSTM(nn.Module):
    """sgadgil6/cnslab_fmri's fMRI_LSTM: an LSTM whose final state is stored on the
    module (``lstm_out, self.hidden = self.lstm(x)``) and fed back on the next batch,
    graph attached (sgadgil6/cnslab_fmri issue 4: backward through the graph a second
    time; retain_graph=True then runs out of memory).

    x (B, T, F) -> (B, 1) a probability.
    """

    def __init__(self, features: int = 12, hidden: int = 16) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(0.2)
        self.hidden: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lstm_out, self.hidden = self.lstm(x, self.hidden)
        return torch.sigmoid(self.linear(self.dropout(lstm_out[:, -1, :])))


# --------------------------------------------------------------------------- the cases

Build = Callable[[], tuple]

EXAMPLES = "https://github.com/pytorch/examples/tree/main"
SEQ2SEQ = "https://github.com/bentrevett/pytorch-seq2seq"
YUNJEY_BIRNN = (
    "https://github.com/yunjey/pytorch-tutorial/tree/master/tutorials/02-intermediate/"
    "bidirectional_recurrent_neural_network"
)
D2L_RNN = "https://d2l.ai/chapter_recurrent-neural-networks/rnn-concise.html"


def _case(
    name: str,
    expected: str | None,
    build: Build,
    source: str,
    issue: str | None = None,
    also: tuple[str, ...] = (),
    chained: tuple[str, ...] = (),
    refused: str | None = None,
    steps: int = 0,
    lr: float = 1e-3,
    loss: str = "mse",
) -> PublicCase:
    def seeded() -> tuple:
        torch.manual_seed(sum(map(ord, name)))
        return build()

    acceptable = frozenset({expected, *also}) if expected else frozenset()
    fault = "healthy" if expected is None and refused is None else name
    return PublicCase(
        name,
        fault,
        expected,
        acceptable,
        seeded,
        steps=steps,
        lr=lr,
        loss=loss,
        source=source,
        issue=issue,
        chained=chained,
        refused=refused,
    )


def _seq2seq(attention: bool, ratio: float) -> tuple[nn.Module, torch.Tensor]:
    model = AttnSeq2Seq() if attention else Seq2Seq()
    return TrainingStep(model, _tokens(8, 4), ratio), _tokens(12, 4)


def _sentiment_batch(
    lengths: tuple[int, ...] = (20, 18, 15, 12, 10, 8),
) -> tuple[nn.Module, torch.Tensor]:
    """A batch (max(lengths), B) right-padded with id 0; the default is sorted by length,
    longest first (BucketIterator's sort_within_batch)."""
    text = torch.zeros(max(lengths), len(lengths), dtype=torch.long)
    for b, length in enumerate(lengths):
        text[:length, b] = torch.randint(1, VOCAB, (length,))
    return PackedSentimentLSTM(), text


def public_corpus() -> list[PublicCase]:
    """The public part, healthy models first (names say what each is)."""
    healthy = [
        _case(
            "word-lm-lstm-tied-init-hidden",
            None,
            lambda: (WordRNNModel("LSTM"), _tokens(35, 4)),
            f"{EXAMPLES}/word_language_model",
        ),
        _case(
            "word-lm-gru-tied-init-hidden",
            None,
            lambda: (WordRNNModel("GRU"), _tokens(35, 4)),
            f"{EXAMPLES}/word_language_model",
        ),
        _case(
            "word-lm-rnn-tanh-tied-init-hidden",
            None,
            lambda: (WordRNNModel("RNN_TANH"), _tokens(35, 4)),
            f"{EXAMPLES}/word_language_model",
        ),
        _case(
            "time-sequence-lstmcells-double",
            None,
            lambda: (
                SineSequence().double(),
                torch.sin(torch.randn(6, 1) + torch.arange(60.0) / 8).double(),
            ),
            f"{EXAMPLES}/time_sequence_prediction",
        ),
        _case(
            "awd-lstm-weight-drop-3-layers",
            None,
            lambda: (AWDLSTM(), _tokens(30, 4)),
            "https://github.com/salesforce/awd-lstm-lm",
        ),
        _case(
            "seq2seq-lstm-teacher-forcing",
            None,
            lambda: _seq2seq(attention=False, ratio=1.0),
            f"{SEQ2SEQ}/blob/main/1%20-%20Sequence%20to%20Sequence%20Learning%20with%20Neural%20Networks.ipynb",
            chained=("model.decoder.rnn",),
        ),
        _case(
            "seq2seq-lstm-own-predictions",
            None,
            lambda: _seq2seq(attention=False, ratio=0.0),
            f"{SEQ2SEQ}/blob/main/1%20-%20Sequence%20to%20Sequence%20Learning%20with%20Neural%20Networks.ipynb",
            chained=("model.decoder.rnn",),
        ),
        _case(
            "seq2seq-attention-gru-decoder",
            None,
            lambda: _seq2seq(attention=True, ratio=0.5),
            f"{SEQ2SEQ}/blob/main/3%20-%20Neural%20Machine%20Translation%20by%20Jointly%20Learning%20to%20Align%20and%20Translate.ipynb",
            chained=("model.decoder.rnn",),
        ),
        _case(
            "sentiment-packed-bilstm-both-final-states",
            None,
            _sentiment_batch,
            "https://github.com/bentrevett/pytorch-sentiment-analysis",
        ),
        _case(
            "char-rnn-gru-one-char-per-call",
            None,
            lambda: (CharChunk("gru"), torch.randint(1, VOCAB, (4, 30))),
            "https://github.com/spro/char-rnn.pytorch",
            chained=("decoder.rnn",),
        ),
        _case(
            "crnn-two-bidirectional-lstms",
            None,
            lambda: (CRNN(), torch.randn(4, 1, 16, 64)),
            "https://github.com/meijieru/crnn.pytorch",
        ),
        _case(
            "lstnet-gru-and-skip-gru",
            None,
            lambda: (LSTNet(), torch.randn(8, 48, 4)),
            "https://github.com/laiguokun/LSTNet",
        ),
        _case(
            "deepar-lstm-one-step-per-call",
            None,
            lambda: (DeepAR(), torch.randn(24, 8, 4)),
            "https://github.com/zhykoties/TimeSeries",
            chained=("lstm",),
        ),
        _case(
            "birnn-classifier-both-ends",
            None,
            lambda: (BiRNN(both_ends=True), torch.randn(8, 28, 28)),
            "https://github.com/yunjey/pytorch-tutorial/pull/174",
        ),
        _case(
            "d2l-rnn-begin-state",
            None,
            lambda: (D2LRNNModel(nn.RNN(VOCAB, 32)), torch.randint(0, VOCAB, (4, 35))),
            D2L_RNN,
        ),
        _case(
            "d2l-gru-begin-state",
            None,
            lambda: (D2LRNNModel(nn.GRU(VOCAB, 32)), torch.randint(0, VOCAB, (4, 35))),
            D2L_RNN,
        ),
    ]
    faulty = [
        _case(
            "sentiment-packed-unsorted-lengths",
            None,
            lambda: _sentiment_batch((12, 20, 8, 15, 18, 10)),
            "https://github.com/bentrevett/pytorch-sentiment-analysis",
            issue="https://github.com/pytorch/pytorch/issues/8026",
            refused="must be sorted in decreasing order",
        ),
        _case(
            "word-lm-init-hidden-one-layer-of-two",
            None,
            lambda: (OneLayerInitHidden("LSTM"), _tokens(35, 4)),
            f"{EXAMPLES}/word_language_model",
            issue="https://github.com/aladdinpersson/Machine-Learning-Collection/issues/110",
            refused="Expected hidden[0] size (2, 4, 24), got [1, 4, 24]",
        ),
        _case(
            "fastai-weight-dropout-cuts-raw-weight",
            "no-gradient",
            lambda: (AWDLSTM(weight_drop=WeightDropoutLeaf), _tokens(30, 4)),
            "https://github.com/fastai/fastai2",
            issue="https://github.com/fastai/fastai2/pull/427",
        ),
        _case(
            "awd-lstm-weight-drop-parameter-wrap",
            "no-gradient",
            lambda: (AWDLSTM(weight_drop=partial(WeightDrop, parameter_wrap=True)), _tokens(30, 4)),
            "https://github.com/salesforce/awd-lstm-lm/blob/15535c498bb73799017137492368aaa175ae4b8b/weight_drop.py",
            issue="https://github.com/salesforce/awd-lstm-lm/issues/114",
        ),
        _case(
            "birnn-lstm-out-last-step",
            ONE_END_READ,
            lambda: (BiRNN(), torch.randn(8, 28, 28)),
            YUNJEY_BIRNN,
            issue="https://github.com/yunjey/pytorch-tutorial/issues/149",
        ),
        _case(
            "birnn-gru-out-last-step",
            ONE_END_READ,
            lambda: (BiRNN(nn.GRU), torch.randn(8, 28, 28)),
            YUNJEY_BIRNN,
            issue="https://github.com/yunjey/pytorch-tutorial/issues/149",
        ),
        _case(
            "word-lm-hidden-not-repackaged",
            "state-carries-graph",
            lambda: (WordRNNModel("LSTM", keep_state=True), _tokens(35, 4)),
            f"{EXAMPLES}/word_language_model",
            issue="https://github.com/pytorch/pytorch/issues/2198",
        ),
        _case(
            "fmri-lstm-keeps-self-hidden",
            "state-carries-graph",
            lambda: (FMRILSTM(), torch.randn(8, 40, 12)),
            "https://github.com/sgadgil6/cnslab_fmri",
            issue="https://github.com/sgadgil6/cnslab_fmri/issues/4",
        ),
        _case(
            "summarizer-encoder-hidden-never-reset",
            "state-carries-graph",
            lambda: (Summarizer(), torch.randint(1, VOCAB, (4, 25))),
            "https://github.com/JulesBelveze/text-summarizer",
            issue="https://github.com/JulesBelveze/text-summarizer/pull/8",
        ),
        _case(
            "word-lm-rnn-relu-loss-nan",
            "non-finite",
            lambda: (WordRNNModel("RNN_RELU"), _tokens(35, 8), torch.randint(0, VOCAB, (35 * 8,))),
            f"{EXAMPLES}/word_language_model",
            issue="https://github.com/chenxie95/deeplearning_course_sjtu/issues/31",
            also=("training-divergence", "exploding-gradient", "loss-spikes", "dead-units"),
            steps=12,
            lr=1.0,
            loss="ce",
        ),
    ]
    return healthy + faulty
