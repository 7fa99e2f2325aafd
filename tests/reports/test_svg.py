"""reports.svg: figures as inline SVG text."""

import pytest

from reports.svg import plain, render


@pytest.mark.parametrize(
    ("low", "high", "shown"),
    [
        (1e-12, 1.0, ["10⁻¹²", "10⁻⁶", "10⁰"]),  # decades only
        # under a decade: minor ticks labelled
        (150.0, 450.0, [f"{k}\N{MULTIPLICATION SIGN}10²" for k in (2, 3, 4)]),
    ],
)
def test_log_axes_are_labelled_in_plain_text_not_mathtext(low, high, shown):
    def draw(fig):
        ax = fig.subplots()
        ax.plot([0, 1], [low, high])
        ax.set(yscale="log", title=plain("cost in $"))

    page = str(render(draw))
    labels = page.split("<text")
    for label in shown:
        assert any(f">{label}</text>" in text for text in labels), label
    assert "mathdefault" not in page and "\\times" not in page
    assert ">cost in $</text>" in page  # a dollar from a file drawn as it is
