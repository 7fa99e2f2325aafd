"""Models as public tutorials write them, for ``python -m bench model`` tests.

``LSTMTagger`` is the PyTorch tutorial "Sequence Models and Long Short-Term Memory
Networks" (one sentence of token ids, reshaped to batch 1 inside forward) with the
2-layer LSTM the issue names; ``NonzeroPooling`` pools over the non-padding steps with
``torch.nonzero``, a data-dependent shape that torch.export refuses.
"""

import torch
import torch.nn.functional as F
from torch import nn

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


class NonzeroPooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 8, padding_idx=0)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.out = nn.Linear(12, 2)

    def forward(self, tokens):
        states, _ = self.gru(self.embedding(tokens))
        steps = torch.nonzero(tokens[0]).squeeze(1)
        return self.out(states[:, steps].mean(dim=1))


def tagger():
    torch.manual_seed(0)
    return LSTMTagger()


def nonzero_pooling():
    torch.manual_seed(0)
    return NonzeroPooling()
