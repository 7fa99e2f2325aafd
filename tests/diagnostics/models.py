"""Small model files written into a temporary folder, as a user would have them."""

import pathlib
import textwrap

GOOD = """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(4, 8, batch_first=True)
            self.out = nn.Linear(8, 2)

        def forward(self, x):
            return self.out(self.rnn(x)[0][:, -1])

    def build():
        return Net()

    def not_a_module():
        return 42

    def raises():
        raise RuntimeError("weights file 'w.bin' not found")

    def mlp():
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))

    def shape_bug():
        class Bad(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(5, 8)

            def forward(self, x):
                return self.rnn(x)[0]

        return Bad()

    def frozen():
        return Net().requires_grad_(False)

    NOT_CALLABLE = 3
"""


def write(folder: pathlib.Path, name: str = "user_model.py", text: str = GOOD) -> pathlib.Path:
    """Write a model file; return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path
