"""The second corpus part: models written the way tutorials, examples and papers write them.

The fault corpus (:mod:`diagnostics.evaluation.corpus`) injects faults into one uniform
model. Here each model is its own small class, as people write them: a word
language model with tied weights and ``init_hidden``, AWD-LSTM's weight drop,
an attention seq2seq with an ``nn.GRUCell`` decoder, a forecaster that builds
``h0`` in ``forward``, an NER tagger that packs inside ``forward`` and returns a
dict, a CRNN, a transformer+LSTM hybrid, stateful models, a char-RNN cell
loop; and the real bugs people have in them: ``fc(h_n[-1])`` on a
bidirectional LSTM, an output detached before the head, a frozen encoder,
chunked sequences with the state detached, a learning rate that diverges, a
loss that broadcasts, an exploding cell loop, a state kept with its graph.
Every model is CPU-fast (well under a second to diagnose, a few with --steps).

Each case is a :class:`diagnostics.evaluation.corpus.CorpusCase`; its ``build`` returns
``(model, x)`` or ``(model, x, target)``, and ``steps``, ``lr`` and ``loss`` are
the diagnosis's options for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from diagnostics.evaluation.corpus import CorpusCase

VOCAB = 50

# --------------------------------------------------------------------------- language models


class WordLM(nn.Module):
    """PyTorch's word_language_model: embedding, LSTM, decoder with tied weights, init_hidden."""

    def __init__(self, ntoken: int = VOCAB, ninp: int = 24, nlayers: int = 2, dropout: float = 0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, ninp, nlayers, dropout=dropout)
        self.decoder = nn.Linear(ninp, ntoken)
        self.decoder.weight = self.encoder.weight  # Press and Wolf 2016
        self.nlayers, self.nhid = nlayers, ninp

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        weight = next(self.parameters())
        return (
            weight.new_zeros(self.nlayers, bsz, self.nhid),
            weight.new_zeros(self.nlayers, bsz, self.nhid),
        )

    def forward(self, input: torch.Tensor, hidden: tuple | None) -> tuple[torch.Tensor, tuple]:
        if hidden is None:
            hidden = self.init_hidden(input.size(1))
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output))
        return F.log_softmax(decoded, dim=-1), hidden


class WeightDrop(nn.Module):
    """AWD-LSTM's DropConnect on W_hh (Merity et al. 2018): the raw weight is the parameter,
    the LSTM's weight_hh_l0 is set from it with dropout before every call."""

    def __init__(self, module: nn.LSTM, dropout: float = 0.3):
        super().__init__()
        self.module, self.dropout = module, dropout
        raw = module.weight_hh_l0
        del module._parameters["weight_hh_l0"]
        self.weight_hh_l0_raw = nn.Parameter(raw.detach().clone())

    def forward(self, *args: object) -> object:
        weight = F.dropout(self.weight_hh_l0_raw, p=self.dropout, training=self.training)
        self.module.weight_hh_l0 = weight
        return self.module(*args)


class AWDLSTM(nn.Module):
    """Embedding, weight-dropped LSTM, tied decoder (time-major input)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(VOCAB, 16)
        self.rnn = WeightDrop(nn.LSTM(16, 16))
        self.decoder = nn.Linear(16, VOCAB)
        self.decoder.weight = self.encoder.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.encoder(tokens))
        return self.decoder(output)


class StatefulLM(nn.Module):
    """A stateful LM keeping its hidden state between batches (batch_first)."""

    def __init__(self, cell: type[nn.RNNBase] = nn.LSTM, detach: bool = True):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.rnn = cell(16, 24, batch_first=True)
        self.fc = nn.Linear(24, VOCAB)
        self.hidden = None
        self.detach = detach

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, hidden = self.rnn(self.embed(tokens), self.hidden)
        if self.detach:  # repackage_hidden
            hidden = _detach(hidden)
        self.hidden = hidden
        return self.fc(out)


class CharRNN(nn.Module):
    """A char-RNN stepping a cell in a loop (Karpathy's min-char-rnn, in torch)."""

    def __init__(self, cell: type[nn.RNNCellBase] = nn.LSTMCell, hidden: int = 32, **kw: object):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.cell = cell(16, hidden, **kw)
        self.out = nn.Linear(hidden, VOCAB)
        self.detach_every = 0

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        state = None
        logits = []
        for t in range(text.size(1)):
            if self.detach_every and t and t % self.detach_every == 0:
                state = _detach(state)
            state = self.cell(self.embed(text[:, t]), state)
            h = state[0] if isinstance(state, tuple) else state
            logits.append(self.out(h))
        return torch.stack(logits, dim=1)


def _detach(state: torch.Tensor | tuple) -> torch.Tensor | tuple:
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


# --------------------------------------------------------------------------- classifiers, taggers


class BiLSTMClassifier(nn.Module):
    """The sentiment-analysis tutorial: embedding, bi-LSTM, a head on the final hidden state."""

    def __init__(self, layers: int = 2, both: bool = True, cell: type[nn.RNNBase] = nn.LSTM):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.rnn = cell(16, 24, num_layers=layers, bidirectional=True, batch_first=True)
        self.both = both
        self.fc = nn.Linear(48 if both else 24, 2)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        _, hidden = self.rnn(self.embedding(text))
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        if self.both:
            return self.fc(torch.cat((hidden[-2], hidden[-1]), dim=1))
        return self.fc(hidden[-1])


class GRUSentiment(nn.Module):
    """Embedding, GRU, the output's last step through dropout and a linear head."""

    def __init__(self, detach: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 16)
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(32, 3)
        self.detach = detach

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embedding(text))
        last = out[:, -1, :]
        if self.detach:
            last = last.detach()  # "features only, to save memory"
        return self.fc(self.dropout(last))


class NERTagger(nn.Module):
    """A BiLSTM tagger that packs inside forward (lengths from the padding) and returns a dict."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 16, batch_first=True, bidirectional=True)
        self.tags = nn.Linear(32, 5)

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = (tokens != 0).sum(dim=1).cpu()
        packed = pack_padded_sequence(
            self.embed(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        return {"logits": self.tags(out), "lengths": lengths}


class MNISTRowRNN(nn.Module):
    """The MNIST-as-a-sequence tutorial: 28 rows of 28 pixels, tanh RNN, last step."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(28, 32, num_layers=2, batch_first=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(images)
        return self.fc(out[:, -1, :])


class PackedGRUPool(nn.Module):
    """Bi-GRU over a packed batch (lengths a fixed pattern), mean-pooled over the valid steps."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = torch.arange(x.size(0)) % 3 * (x.size(1) // 4) + x.size(1) // 2
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, lengths = pad_packed_sequence(out, batch_first=True)
        return self.fc(out.sum(1) / lengths[:, None])


# --------------------------------------------------------------------------- vision, hybrids


class CRNN(nn.Module):
    """Shi et al.'s CRNN in miniature: conv features, columns as time steps, bi-LSTM, CTC logits."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d((2, 1)),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((1, None)),
        )
        self.rnn = nn.LSTM(16, 16, bidirectional=True)
        self.fc = nn.Linear(32, 12)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.cnn(images).squeeze(2).permute(2, 0, 1)  # (W, B, C)
        out, _ = self.rnn(features)
        return self.fc(out).log_softmax(-1)


class TransformerLSTM(nn.Module):
    """A transformer encoder layer, then an LSTM, then a per-step head."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 32)
        self.encoder = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.lstm = nn.LSTM(32, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.encoder(self.proj(x)))
        return self.head(out)


class FrozenEncoderTagger(nn.Module):
    """A 'pretrained' frozen GRU encoder and a trainable LSTM on top."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.GRU(8, 24, batch_first=True)
        self.encoder.requires_grad_(False)
        self.lstm = nn.LSTM(24, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features, _ = self.encoder(x)
        return self.head(self.lstm(features)[0])


# --------------------------------------------------------------------------- forecasting


class Forecaster(nn.Module):
    """The time-series tutorial: h0 and c0 built in forward, a linear layer on the last step."""

    def __init__(self, features: int = 4, hidden: int = 32, layers: int = 2):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.layers, x.size(0), self.hidden, device=x.device)
        c0 = torch.zeros(self.layers, x.size(0), self.hidden, device=x.device)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


class ChunkedForecaster(nn.Module):
    """Runs a long series through a GRU in chunks "to save memory"; detach between chunks."""

    def __init__(self, chunk: int = 20, detach: bool = True):
        super().__init__()
        self.gru = nn.GRU(4, 24, batch_first=True)
        self.fc = nn.Linear(24, 1)
        self.chunk, self.detach = chunk, detach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = None
        outs = []
        for piece in torch.split(x, self.chunk, dim=1):
            out, h = self.gru(piece, h)
            if self.detach:
                h = h.detach()
            outs.append(out)
        return self.fc(torch.cat(outs, dim=1))


class GRURegressor(nn.Module):
    """A sequence-to-one regressor on the GRU's final hidden state: output (B, 1)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.gru(x)
        return self.head(h_n[-1])


class SeqRegressor(nn.Module):
    """An LSTM with a per-step regression head, (B, T, 1)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


# --------------------------------------------------------------------------- seq2seq


class AttnSeq2Seq(nn.Module):
    """Bahdanau-style attention seq2seq: GRU encoder, GRUCell decoder fed its own prediction."""

    def __init__(self, out_steps: int = 8, detach_encoder: bool = False):
        super().__init__()
        self.encoder = nn.GRU(8, 24, batch_first=True)
        self.attn = nn.Linear(48, 1)
        self.decoder = nn.GRUCell(8 + 24, 24)
        self.out = nn.Linear(24, 8)
        self.out_steps, self.detach_encoder = out_steps, detach_encoder

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        enc, h = self.encoder(src)
        if self.detach_encoder:
            enc, h = enc.detach(), h.detach()
        h = h[0]
        y = torch.zeros(src.size(0), 8)
        outs = []
        for _ in range(self.out_steps):
            query = h.unsqueeze(1).expand_as(enc)
            weights = torch.softmax(self.attn(torch.cat([enc, query], -1)).squeeze(-1), dim=1)
            context = (weights.unsqueeze(-1) * enc).sum(1)
            h = self.decoder(torch.cat([y, context], -1), h)
            y = self.out(h)
            outs.append(y)
        return torch.stack(outs, 1)


class LSTMSeq2Seq(nn.Module):
    """Sutskever-style encoder-decoder: the encoder's final state starts the decoder LSTM."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(8, 24, batch_first=True)
        self.decoder = nn.LSTM(8, 24, batch_first=True)
        self.out = nn.Linear(24, 8)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        _, state = self.encoder(src)
        decoder_input = torch.flip(src[:, -6:], dims=[1])  # teacher forcing on a fixed target
        out, _ = self.decoder(decoder_input, state)
        return self.out(out)


class DecoderCellDetached(nn.Module):
    """A decoder loop that detaches its hidden state every step (copied from a sampler)."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(8, 24)
        self.out = nn.Linear(24, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.size(0), 24)
        outs = []
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h.detach())
            outs.append(self.out(h))
        return torch.stack(outs, 1)


class ReLUIdentityRNN(nn.Module):
    """Le et al.'s IRNN with the identity scaled up "to remember longer"."""

    def __init__(self, gain: float = 1.0):
        super().__init__()
        self.rnn = nn.RNN(8, 32, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(gain * torch.eye(32))
            self.rnn.bias_hh_l0.zero_()
            self.rnn.bias_ih_l0.zero_()
        self.fc = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.rnn(x)[0][:, -1])


def _forget_bias_lstm() -> nn.Module:
    """A forecaster whose forget-gate bias was set to -6 instead of +6 (a sign slip)."""
    model = Forecaster(layers=1)
    with torch.no_grad():
        for name, bias in model.lstm.named_parameters():
            if name.startswith("bias"):
                bias[32:64] = -3.0
    return model


def _small_init_rnn() -> nn.Module:
    """The MNIST-rows RNN initialised as some papers write it: every weight N(0, 0.01)."""
    model = MNISTRowRNN()
    for name, param in model.rnn.named_parameters():
        if name.startswith("weight"):
            nn.init.normal_(param, std=0.01)
    return model


def _exploding_cell() -> nn.Module:
    model = CharRNN(nn.RNNCell, hidden=32, nonlinearity="relu")
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(32, 32))
        model.cell.weight_hh.copy_(2.5 * q)
    return model


def _truncating_char_rnn() -> nn.Module:
    model = CharRNN(nn.GRUCell)
    model.detach_every = 8
    return model


# --------------------------------------------------------------------------- the cases


def _tokens(batch: int, steps: int, pad: bool = False) -> torch.Tensor:
    tokens = torch.randint(1, VOCAB, (batch, steps))
    if pad:  # right padding with id 0, every sequence at least half long
        for b in range(batch):
            tokens[b, steps // 2 + b % (steps // 2) :] = 0
        tokens[0] = torch.randint(1, VOCAB, (steps,))
    return tokens


Build = Callable[[], tuple]


def _case(
    name: str,
    expected: str | None,
    build: Build,
    also: tuple[str, ...] = (),
    steps: int = 0,
    lr: float = 1e-3,
    loss: str = "mse",
) -> CorpusCase:
    def seeded() -> tuple:
        torch.manual_seed(sum(map(ord, name)))
        return build()

    acceptable = frozenset({expected, *also}) if expected else frozenset()
    fault = "healthy" if expected is None else name
    return CorpusCase(name, fault, expected, acceptable, seeded, steps=steps, lr=lr, loss=loss)


def wild_corpus() -> list[CorpusCase]:
    """The models, healthy ones first (names say what each is)."""
    healthy = [
        _case("word-lm-tied-init-hidden", None, lambda: (WordLM(), _tokens(35, 4))),  # (T, B)
        _case("awd-lstm-weight-drop", None, lambda: (AWDLSTM(), _tokens(30, 4))),  # (T, B)
        _case("attention-seq2seq-grucell", None, lambda: (AttnSeq2Seq(), torch.randn(4, 12, 8))),
        _case("forecaster-h0-in-forward", None, lambda: (Forecaster(), torch.randn(8, 60, 4))),
        _case("ner-tagger-packed-dict", None, lambda: (NERTagger(), _tokens(6, 20, pad=True))),
        _case("crnn-ocr", None, lambda: (CRNN(), torch.randn(4, 1, 16, 40))),
        _case("transformer-lstm-hybrid", None, lambda: (TransformerLSTM(), torch.randn(4, 30, 8))),
        _case("stateful-lm-repackaged", None, lambda: (StatefulLM(), _tokens(4, 35)), steps=3),
        _case("char-rnn-lstmcell-loop", None, lambda: (CharRNN(), _tokens(4, 40))),
        _case("char-rnn-grucell-loop", None, lambda: (CharRNN(nn.GRUCell), _tokens(4, 40))),
        _case(
            "bilstm-classifier-both-directions", None, lambda: (BiLSTMClassifier(), _tokens(8, 30))
        ),
        _case(
            "frozen-encoder-trainable-lstm",
            None,
            lambda: (FrozenEncoderTagger(), torch.randn(4, 30, 8)),
        ),
        _case(
            "forecaster-trained-with-target",
            None,
            lambda: (Forecaster(), torch.randn(16, 40, 4), torch.randn(16, 1)),
            steps=8,
        ),
        _case("lstm-seq2seq-teacher-forcing", None, lambda: (LSTMSeq2Seq(), torch.randn(4, 20, 8))),
        _case("gru-sentiment-last-step", None, lambda: (GRUSentiment(), _tokens(8, 40))),
        _case("mnist-rows-tanh-rnn", None, lambda: (MNISTRowRNN(), torch.randn(8, 28, 28))),
        _case("packed-bigru-mean-pool", None, lambda: (PackedGRUPool(), torch.randn(6, 24, 8))),
        _case(
            "seq-regressor-matching-target",
            None,
            lambda: (SeqRegressor(), torch.randn(8, 30, 4), torch.randn(8, 30, 1)),
            steps=5,
        ),
        _case(
            "gru-sentiment-ce-target",
            None,
            lambda: (GRUSentiment(), _tokens(16, 30), torch.randint(0, 3, (16,))),
            steps=5,
            loss="ce",
        ),
        _case(
            "chunked-forecaster-state-passed",
            None,
            lambda: (ChunkedForecaster(detach=False), torch.randn(4, 60, 4)),
        ),
        _case("irnn-identity", None, lambda: (ReLUIdentityRNN(1.0), torch.randn(8, 30, 8))),
    ]
    faulty = [
        _case(
            "bilstm-fc-h_n-last",
            "no-gradient",
            lambda: (BiLSTMClassifier(both=False), _tokens(8, 30)),
        ),
        _case(
            "bigru-fc-h_n-last",
            "no-gradient",
            lambda: (BiLSTMClassifier(layers=1, both=False, cell=nn.GRU), _tokens(8, 30)),
        ),
        _case(
            "gru-output-detached",
            "no-gradient",
            lambda: (GRUSentiment(detach=True), _tokens(8, 30)),
        ),
        _case(
            "seq2seq-encoder-detached",
            "no-gradient",
            lambda: (AttnSeq2Seq(detach_encoder=True), torch.randn(4, 12, 8)),
        ),
        _case(
            "chunked-forecaster-detached",
            "truncated-gradient",
            lambda: (ChunkedForecaster(), torch.randn(4, 100, 4)),
        ),
        _case(
            "char-rnn-detach-every-8",
            "truncated-gradient",
            lambda: (_truncating_char_rnn(), _tokens(4, 40)),
        ),
        _case(
            "decoder-cell-detached-each-step",
            "truncated-gradient",
            lambda: (DecoderCellDetached(), torch.randn(4, 20, 8)),
        ),
        _case(
            "forecaster-adam-lr-1",
            "training-divergence",
            lambda: (Forecaster(), torch.randn(16, 30, 4), torch.randn(16, 1)),
            also=("non-finite", "exploding-gradient", "loss-spikes"),
            steps=12,
            lr=1.0,
        ),
        _case(
            "sentiment-adam-lr-3-ce",
            "training-divergence",
            lambda: (GRUSentiment(), _tokens(16, 30), torch.randint(0, 3, (16,))),
            also=("non-finite", "exploding-gradient", "loss-spikes"),
            steps=12,
            lr=3.0,
            loss="ce",
        ),
        _case(
            "forecaster-target-32-vs-32x1",
            "loss-broadcast",
            lambda: (Forecaster(), torch.randn(32, 30, 4), torch.randn(32)),
        ),
        _case(
            "gru-regressor-target-16-vs-16x1",
            "loss-broadcast",
            lambda: (GRURegressor(), torch.randn(16, 25, 4), torch.randn(16)),
        ),
        _case(
            "char-rnn-relu-cell-exploding",
            "exploding-gradient",
            lambda: (_exploding_cell(), _tokens(4, 40)),
            also=("saturation", "non-finite"),
        ),
        _case(
            "irnn-identity-times-1.5",
            "exploding-gradient",
            lambda: (ReLUIdentityRNN(1.5), torch.randn(8, 30, 8)),
            also=("non-finite", "saturation"),
        ),
        _case(
            "stateful-lm-keeps-graph",
            "state-carries-graph",
            lambda: (StatefulLM(detach=False), _tokens(4, 35)),
        ),
        _case(
            "stateful-gru-keeps-graph",
            "state-carries-graph",
            lambda: (StatefulLM(nn.GRU, detach=False), _tokens(4, 35)),
        ),
        _case(
            "forecaster-forget-bias-sign-slip",
            "vanishing-gradient",
            lambda: (_forget_bias_lstm(), torch.randn(8, 60, 4)),
            also=("saturation",),
        ),
        _case(
            "mnist-rows-rnn-normal-init-std-0.01",
            "vanishing-gradient",
            lambda: (_small_init_rnn(), torch.randn(8, 28, 28)),
            also=("saturation",),
        ),
    ]
    return healthy + faulty
