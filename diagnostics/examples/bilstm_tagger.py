"""Bidirectional 2-layer LSTM tagger with dropout, one tag distribution per token."""

from torch import nn

INPUT = "int64[16,35]<500"


class BiLSTMTagger(nn.Module):
    def __init__(self, vocab=500, embedding_dim=32, hidden_dim=48, tags=9, dropout=0.3):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding_dim)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_dim,
            num_layers=2,
            bidirectional=True,
            dropout=dropout,
            batch_first=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.hidden2tag = nn.Linear(2 * hidden_dim, tags)

    def forward(self, sentence):
        lstm_out, _ = self.lstm(self.dropout(self.embed(sentence)))
        return {"logits": self.hidden2tag(self.dropout(lstm_out)), "mask": sentence != 0}


def build():
    return BiLSTMTagger()
