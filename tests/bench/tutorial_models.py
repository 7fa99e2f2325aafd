"""Models as public tutorials write them, for ``python -m bench model`` tests.

``LSTMTagger`` is the PyTorch tutorial "Sequence Models and Long Short-Term Memory
Networks" (one sentence of token ids, reshaped to batch 1 inside forward) with a
2-layer LSTM.
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


def tagger():
    torch.manual_seed(0)
    return LSTMTagger()
