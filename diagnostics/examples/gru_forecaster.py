"""GRU forecaster: reads a window of a multivariate series, predicts the next value."""

from torch import nn

INPUT = "float32[32,60,8]"


class GRUForecaster(nn.Module):
    def __init__(self, n_features=8, hidden=64):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 32), nn.ReLU(), nn.Linear(32, n_features))

    def forward(self, x):
        output, h_n = self.gru(x)
        return [self.head(h_n[-1]), output]


def build():
    return GRUForecaster()
