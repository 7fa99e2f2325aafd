"""reports.svg: figures as inline SVG text."""

import pytest
from matplotlib.ticker import FuncFormatter

from reports.svg import plain, render


def _labels(page: str) -> list[str]:
    """The text of every ``<text>`` element of an SVG page."""
    return [part.split(">", 1)[1].split("</text>")[0] for part in page.split("<text")[1:]]


@pytest.mark.parametrize(
    ("low", "high", "base", "shown"),
    [
        (1e-12, 1.0, 10, ["10⁻¹²", "10⁻⁶", "10⁰"]),  # decades only
        # under a decade: minor ticks labelled
        (150.0, 450.0, 10, [f"{k}\N{MULTIPLICATION SIGN}10²" for k in (2, 3, 4)]),
        (1.0, 64.0, 2, ["2⁰", "2³", "2⁶"]),
    ],
)
def test_log_axes_are_labelled_in_plain_text_not_mathtext(low, high, base, shown):
    def draw(fig):
        ax = fig.subplots()
        ax.plot([0, 1], [low, high])
        ax.set_yscale("log", base=base)
        ax.set_title(plain("cost in $"))

    page = str(render(draw))
    labels = _labels(page)
    assert set(shown) <= set(labels), labels
    assert "mathdefault" not in page and "\\times" not in page
    assert "cost in $" in labels  # a dollar from a file drawn as it is


def test_a_figures_own_log_labels_are_kept():
    def draw(fig):
        ax = fig.subplots()
        ax.plot([1, 1000], [1, 2])
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} ms"))

    labels = _labels(str(render(draw)))
    assert {"1 ms", "10 ms", "100 ms", "1000 ms"} <= set(labels), labels
