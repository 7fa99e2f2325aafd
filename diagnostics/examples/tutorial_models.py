"""Models as public tutorials and examples write them, to time, diagnose and document.

``LSTMTagger`` is the PyTorch tutorial "Sequence Models and Long Short-Term Memory
Networks" (one sentence of token ids, reshaped to batch 1 inside forward) with a
2-layer LSTM. ``RNNModel`` follows pytorch/examples' word_language_model
(``forward(input, hidden)`` with ``init_hidden(bsz)``, sequence-first token ids),
``BeginStateLM`` d2l's RNN models (``forward(inputs, state)`` with
``begin_state(device, batch_size)``, batch-first ids transposed inside), ``Sequence``
pytorch/examples' time_sequence_prediction (two LSTMCells stepped over the columns of a
float64 ``(batch, steps)`` input, states made with ``dtype=torch.double``, the model
``.double()``), ``PackedSentiment`` bentrevett's pytorch-sentiment-analysis packed
2-layer bidirectional LSTM (lengths from the padding, final states of both directions
into the head).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

VOCAB, TAGS = 50, 5


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim=16, hidden_dim=24, vocab_size=VOCAB, tagset_size=TAGS):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=2)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def tagger():
    torch.manual_seed(0)
    return LSTMTagger()


class RNNModel(nn.Module):
    def __init__(self, ntoken=VOCAB, ninp=16, nhid=24, nlayers=2, dropout=0.5):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (
            weight.new_zeros(self.nlayers, bsz, self.nhid),
            weight.new_zeros(self.nlayers, bsz, self.nhid),
        )


def word_lm():
    """Small sizes (a 50-token vocabulary, 16 in, 24 hidden), for the tests."""
    torch.manual_seed(0)
    return RNNModel()


def word_lm_full():
    """pytorch/examples' default sizes (200 in, 200 hidden, dropout 0.2) with a 1000-token
    vocabulary: ``--input 'int64[35,20]<1000'`` (bptt 35, batch 20) for the GPU check."""
    torch.manual_seed(0)
    return RNNModel(ntoken=1000, ninp=200, nhid=200, dropout=0.2)


class BeginStateLM(nn.Module):
    def __init__(self, vocab_size=VOCAB, num_hiddens=16):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.GRU(vocab_size, num_hiddens)
        self.linear = nn.Linear(num_hiddens, vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(self.linear.weight.dtype)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state

    def begin_state(self, device, batch_size=1):
        return torch.zeros((self.rnn.num_layers, batch_size, self.rnn.hidden_size), device=device)


def begin_state_lm():
    torch.manual_seed(0)
    return BeginStateLM()


class Sequence(nn.Module):
    def __init__(self, hidden=51):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def time_sequence(hidden=51):
    torch.manual_seed(0)
    return Sequence(hidden).double()


class PackedSentiment(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, n_layers=2, pad_idx=0):
        super().__init__()
        self.pad_idx = pad_idx
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.LSTM(
            embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=True, dropout=0.5
        )
        self.fc = nn.Linear(hidden_dim * 2, 1)
        self.dropout = nn.Dropout(0.5)

    def forward(self, text):
        text_lengths = (text != self.pad_idx).sum(0).clamp(min=1)  # text: (seq, batch)
        embedded = self.dropout(self.embedding(text))
        packed = pack_padded_sequence(embedded, text_lengths.cpu(), enforce_sorted=False)
        packed_output, (hidden, _cell) = self.rnn(packed)
        _output, _ = pad_packed_sequence(packed_output)
        hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
        return self.fc(hidden)


def packed_sentiment():
    """The size the tests time (the tutorial's is 25002 tokens, 100 in, 256 hidden)."""
    torch.manual_seed(0)
    return PackedSentiment(VOCAB, 16, 24)


def packed_sentiment_256():
    """The tutorial's sizes (a 25002-token vocabulary, 100 in, 256 hidden, 2 layers)."""
    torch.manual_seed(0)
    return PackedSentiment(25002, 100, 256)
