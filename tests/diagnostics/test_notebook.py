"""diagnostics.diagnose's document and a diagnostics.watch monitor render in Jupyter."""

import json

import torch
from torch import nn

import diagnostics
from reports.findingsfile import FindingsDocument

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


class Hostile(nn.Module):
    """A tanh RNN under a module name that carries HTML; ``small_init`` makes its
    gradient vanish (every weight N(0, 0.01))."""

    def __init__(self, small_init: bool = False):
        super().__init__()
        self.add_module(HOSTILE, nn.RNN(4, 8, batch_first=True))
        self.head = nn.Linear(8, 1)
        if small_init:
            for name, param in self.get_submodule(HOSTILE).named_parameters():
                if name.startswith("weight"):
                    nn.init.normal_(param, std=0.01)

    def forward(self, x):
        return self.head(getattr(self, HOSTILE)(x)[0][:, -1])


def test_diagnose_returns_a_dict_that_shows_its_findings_escaped():
    torch.manual_seed(0)
    doc = diagnostics.diagnose(Hostile(small_init=True), torch.randn(6, 30, 4))
    assert isinstance(doc, FindingsDocument) and isinstance(doc, dict)
    assert json.loads(json.dumps(doc))["target"] == "Hostile"
    html = doc._repr_html_()
    assert HOSTILE not in html and f"<td>{ESCAPED}</td><td>RNN</td>" in html
    assert "errors found" in html and "<code>vanishing-gradient</code>" in html


def test_a_monitor_shows_what_it_has_recorded_so_far(tmp_path):
    torch.manual_seed(0)
    model = Hostile(small_init=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(6, 12, 4), torch.randn(6, 1)
    monitor = diagnostics.watch(model, log_dir=tmp_path, every=3)
    assert "0 step(s) seen, 0 probed" in monitor._repr_html_()
    assert "No step probed yet." in monitor._repr_html_()
    losses = []
    for _ in range(5):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        monitor.step(loss)
        losses.append(float(loss.detach()))
        optimizer.step()
        optimizer.zero_grad()
    html = monitor._repr_html_()
    assert HOSTILE not in html and f"<td>{ESCAPED}</td><td>0</td><td>forward</td>" in html
    assert "(open;" in html and "5 step(s) seen, 2 probed (every 3; last at step 3)" in html
    assert f"At step 3: loss {losses[3]:.3g}" in html
    assert "Findings so far: 1 error(s)" in html and "<code>vanishing-gradient</code>" in html
    monitor.close()
    closed = monitor._repr_html_()
    assert "(closed;" in closed and "<code>vanishing-gradient</code>" in closed
    assert "(from step 0; at 2 of 2 sampled steps)" in closed  # the final summaries
    assert isinstance(monitor.findings, FindingsDocument)
