"""Embedding + LSTM text classifier over padded token ids (0 = padding), packed by length."""

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

INPUT = "int64[32,40]<1000"


class TextClassifier(nn.Module):
    def __init__(self, vocab_size=1000, embed_dim=64, hidden_dim=96, num_classes=4):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, text):
        lengths = (text != 0).sum(dim=1).clamp(min=1).cpu()
        embedded = self.embedding(text)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.rnn(packed)
        return self.fc(hidden[-1])


def build():
    return TextClassifier()
