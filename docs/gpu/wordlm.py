"""The LSTM language model of pytorch/examples' word_language_model (``RNNModel``: embedding,
2-layer LSTM, linear decoder, its default sizes 200/200 and dropout 0.2; a 1000-word
vocabulary) with the hidden state
started at zero inside forward, so ``gpu-check`` can give it one input:
``docs/gpu/wordlm.py:build --input 'int64[35,20]<1000'`` (bptt 35, batch 20)."""

import torch
import torch.nn.functional as F
from torch import nn


class RNNModel(nn.Module):
    def __init__(self, ntoken=1000, ninp=200, nhid=200, nlayers=2, dropout=0.2):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input):
        emb = self.drop(self.encoder(input))
        output, _ = self.rnn(emb)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1)


def build():
    torch.manual_seed(0)
    return RNNModel()
