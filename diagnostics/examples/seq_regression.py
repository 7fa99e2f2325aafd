"""Sequence-first regression: forward(x, state) returns (prediction per step, state)."""

from torch import nn

INPUT = "float32[50,16,4]"


class SeqRegressor(nn.Module):
    def __init__(self, n_features=4, hidden=32, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, layers)  # (T, B, F): sequence first
        self.linear = nn.Linear(hidden, 1)

    def forward(self, x, state):
        out, state = self.lstm(x, state)
        return self.linear(out), state


def build():
    return SeqRegressor()
