"""One time step of each cell, written once against an array namespace.

``step(ns, xp, hp, h, c)`` with ``ns`` the module that computes: ``numpy``, or
``torch`` where a caller needs autograd through the step (the diagnostics' step
Jacobians). Only what the two share is used: ``+ - *``, slicing, ``ns.tanh``,
``ns.where`` and ``ns.zeros_like``.

Shapes: ``...`` any leading shape (a batch, or none), H hidden units, P state size,
G gate blocks. ``xp`` (..., G*H) is x_t W_ih^T + b_ih; ``hp`` (..., G*H) is
h_{t-1} W_hh^T + b_hh; ``h`` (..., P) is h_{t-1}; ``c`` (..., H) is c_{t-1} for a
cell with a cell state, else None. A step returns :class:`Step`: the new h (an LSTM's
before any projection W_hr), the new c or None, and the activation of every gate
block in torch's order.

rnnref's layers run the same equations as fused, in-place loops
(:mod:`rnnref.recurrences`); ``tests/rnnref/test_cells.py`` checks that the two agree.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Step(NamedTuple):
    """What one step computes: h (..., H), c (..., H) or None, blocks: each (..., H)."""

    h: Any
    c: Any
    blocks: tuple[Any, ...]


def sigmoid(ns: Any, a: Any) -> Any:
    """The logistic sigmoid as 0.5 * tanh(0.5 * a) + 0.5 (exact halving; no overflow)."""
    return 0.5 * ns.tanh(0.5 * a) + 0.5


def split(a: Any, count: int) -> list[Any]:
    """The ``count`` equal blocks of the last axis of ``a`` (..., count*H)."""
    size = a.shape[-1] // count
    return [a[..., k * size : (k + 1) * size] for k in range(count)]


def rnn_tanh(ns: Any, xp: Any, hp: Any, h: Any, c: Any = None) -> Step:
    """h_t = tanh(xp + hp)."""
    h_new = ns.tanh(xp + hp)
    return Step(h_new, None, (h_new,))


def rnn_relu(ns: Any, xp: Any, hp: Any, h: Any, c: Any = None) -> Step:
    """h_t = relu(xp + hp)."""
    pre = xp + hp
    h_new = ns.where(pre > 0, pre, ns.zeros_like(pre))
    return Step(h_new, None, (h_new,))


def lstm(ns: Any, xp: Any, hp: Any, h: Any, c: Any) -> Step:
    """i, f, o = sigmoid, g = tanh of xp + hp; c_t = f c_{t-1} + i g; h_t = o tanh(c_t)."""
    i, f, g, o = split(xp + hp, 4)
    i, f, g, o = sigmoid(ns, i), sigmoid(ns, f), ns.tanh(g), sigmoid(ns, o)
    c_new = f * c + i * g
    return Step(o * ns.tanh(c_new), c_new, (i, f, g, o))


def gru(ns: Any, xp: Any, hp: Any, h: Any, c: Any = None) -> Step:
    """r, z = sigmoid(x_{r,z} + h_{r,z}); n = tanh(x_n + r h_n); h_t = (1 - z) n + z h_{t-1}."""
    xr, xz, xn = split(xp, 3)
    hr, hz, hn = split(hp, 3)
    r, z = sigmoid(ns, xr + hr), sigmoid(ns, xz + hz)
    n = ns.tanh(xn + r * hn)
    return Step((1 - z) * n + z * h, None, (r, z, n))
