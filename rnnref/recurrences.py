"""The time loops: one direction of one layer of a tanh/ReLU RNN, an LSTM or a GRU.

Each recurrence gets its input already projected for all steps at once
(``xp = x @ W_ih.T + bias``, one GEMM done by the layer), runs the per-step
recurrence forward, keeps what backpropagation through time needs as explicit
attributes, and runs BPTT backward. The layer then turns ``grad_xp`` into the
gradients of ``W_ih``, the input bias and the layer input with one GEMM each.

Shapes: T steps, B sequences, H hidden units, P state size (``proj_size`` for a
projected LSTM, else H), G gate blocks (RNN 1, LSTM 4, GRU 3).

States live in one buffer ``hbuf`` of shape (T + 1, B, P). Running forward in
time, ``hbuf[0]`` is h0 and ``hbuf[t + 1]`` is h_t; running in reverse,
``hbuf[T]`` is h0 and ``hbuf[t]`` is h_t. Either way ``states`` (h_t for each
t) and ``previous`` (the state each step t read) are plain views of it, so the
weight gradient of W_hh is one GEMM over all steps.

``active`` (T,) ints, or None when every sequence is full length, says how
many sequences are still running at each step; the layer sorts the batch by
length (longest first), so they are always the first ``active[t]`` rows, and
a step computes on those rows alone, as a PackedSequence does. Past its length
a sequence's state is carried through unchanged and gradients pass straight
through; its gate activations there are not computed (left zero).

The weights a recurrence gets are read-only views of the layer's parameters:
anything derived from them that is written in place must be a copy.
"""

from __future__ import annotations

import numpy as np

from rnnref.cells import CELL_TYPES


def sigmoid_of_negated_(a: np.ndarray) -> np.ndarray:
    """sigmoid(z) in place, given ``a = -z``: 1 / (1 + exp(a)).

    exp(a) overflows to inf for a large ``a``, and 1 / (1 + inf) = 0 is the
    right limit: callers run it under ``np.errstate(over="ignore")`` (once per
    loop, as entering that context costs more than a small step).
    """
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)
    return a


def _gate_slices(count: int, hidden: int) -> list[slice]:
    """Column slices of each gate block in a (B, count*H) gate array."""
    return [slice(k * hidden, (k + 1) * hidden) for k in range(count)]


def _tanh_form(
    dtype: np.dtype,
    batch: int,
    hidden: int,
    sigmoid_gates: tuple[int, ...],
    tanh_gates: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset), each (B, G*H), such that scale * tanh(scale * x) + offset applies
    sigmoid to the blocks in ``sigmoid_gates`` and tanh to those in ``tanh_gates``.

    sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5; halving is exact in floating point. Both
    are repeated over the batch: full-shape operands made the LSTM forward 3% faster
    than (G*H,) rows broadcast at every step (measured in one process, batch 1-64).
    """
    count = len(sigmoid_gates) + len(tanh_gates)
    blocks = _gate_slices(count, hidden)
    shape = (batch, count * hidden)
    scale, offset = np.ones(shape, dtype), np.zeros(shape, dtype)
    for gate in sigmoid_gates:
        scale[:, blocks[gate]] = 0.5
        offset[:, blocks[gate]] = 0.5
    return scale, offset


class Recurrence:
    """The per-step loop shared by the three cells; subclasses define one step each way.

    Attributes after ``forward``: ``states`` (T, B, P), ``previous`` (T, B, P),
    ``h0`` (B, P). After ``backward``: ``grad_states`` (T, B, P), dL/dh_t in
    total (through the output at t and through step t + 1).
    """

    gate_names: tuple[str, ...] = ()
    # An LSTM's cell state: c0 (B, H), cells (T, B, H) c_t, grad_cells (T, B, H) after
    # backward. None for the cells without one (the layer's trace reads them as they are).
    c0: np.ndarray | None = None
    cells: np.ndarray | None = None
    grad_cells: np.ndarray | None = None

    def __init__(self, w_hh: np.ndarray, reverse: bool) -> None:
        self.w_hh = w_hh  # (G*H, P)
        self.reverse = reverse
        self.grad_states: np.ndarray | None = None

    def _steps(self, num_steps: int) -> range:
        return range(num_steps - 1, -1, -1) if self.reverse else range(num_steps)

    def _per_step_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A (T, B, ...) buffer the loop fills row by row: zeros only where rows past a
        sequence's length are never written, else left uninitialised (no extra pass)."""
        return np.empty(shape, dtype) if self.active is None else np.zeros(shape, dtype)

    def _running(self, t: int) -> int:
        """How many sequences (the first rows) take step t."""
        return self.batch if self.active is None else int(self.active[t])

    def _allocate_states(
        self, h0: np.ndarray, num_steps: int, active: np.ndarray | None
    ) -> np.ndarray:
        """Return ``hbuf`` (T + 1, B, P) holding h0, and set the ``states``/``previous`` views."""
        self.active, self.batch = active, h0.shape[0]
        hbuf = np.empty((num_steps + 1, *h0.shape), dtype=h0.dtype)
        if self.reverse:
            hbuf[num_steps] = h0
            self.states, self.previous = hbuf[:-1], hbuf[1:]
        else:
            hbuf[0] = h0
            self.states, self.previous = hbuf[1:], hbuf[:-1]
        self.h0 = h0
        return hbuf

    @property
    def gates(self) -> dict[str, np.ndarray]:
        """Gate activations by name, each (T, B, H); empty for a plain RNN."""
        if not self.gate_names:
            return {}
        blocks = np.split(self.activations, len(self.gate_names), axis=-1)
        return dict(zip(self.gate_names, blocks, strict=True))


class RNNRecurrence(Recurrence):
    """h_t = act(xp_t + W_hh h_{t-1}), act tanh or relu. ``xp`` (T, B, H) includes both biases."""

    def __init__(self, w_hh: np.ndarray, reverse: bool, nonlinearity: str) -> None:
        super().__init__(w_hh, reverse)
        self.nonlinearity = nonlinearity

    def forward(self, xp: np.ndarray, h0: np.ndarray, active: np.ndarray | None) -> None:
        """Run the loop; ``xp`` (T, B, H) is consumed (overwritten)."""
        self._allocate_states(h0, xp.shape[0], active)
        w_hh_t = np.ascontiguousarray(self.w_hh.T)
        for t in self._steps(xp.shape[0]):
            n = self._running(t)
            h = self.states[t][:n]
            np.matmul(self.previous[t][:n], w_hh_t, out=h)
            h += xp[t][:n]
            if self.nonlinearity == "tanh":
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
            self.states[t][n:] = self.previous[t][n:]

    def backward(
        self,
        grad_out: np.ndarray,
        grad_hn: np.ndarray,
        _grad_cn: None = None,
        params: bool = True,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, None]:
        """BPTT. ``grad_out`` (T, B, H) is dL/d(out_t) of this direction, ``grad_hn`` (B, H).

        Returns ``grad_xp`` (T, B, H), {weight_hh, bias_hh} gradients (empty when not
        ``params``), dL/dh0 (B, H), None.
        """
        states = self.states
        grad_pre = self._per_step_buffer(states.shape, states.dtype)
        self.grad_states = np.empty_like(states)
        dh = grad_hn.copy()
        for t in reversed(self._steps(states.shape[0])):
            dh += grad_out[t]
            self.grad_states[t] = dh
            n = self._running(t)
            dpre, h = grad_pre[t][:n], states[t][:n]
            if self.nonlinearity == "tanh":
                np.multiply(h, h, out=dpre)
                np.subtract(1, dpre, out=dpre)
                dpre *= dh[:n]
            else:
                np.multiply(dh[:n], h > 0, out=dpre)
            dh[:n] = dpre @ self.w_hh
        if not params:
            return grad_pre, {}, dh, None
        flat = grad_pre.reshape(-1, grad_pre.shape[-1])
        grads = {
            "weight_hh": flat.T @ self.previous.reshape(-1, self.previous.shape[-1]),
            "bias_hh": flat.sum(axis=0),
        }
        return grad_pre, grads, dh, None


class LSTMRecurrence(Recurrence):
    """torch's LSTM, gates in torch's order i, f, g, o, with optional projection.

    i, f, o = sigmoid(.), g = tanh(.) of xp_t + W_hh h_{t-1};
    c_t = f * c_{t-1} + i * g;  h_t = W_hr (o * tanh(c_t))  (no W_hr: h_t = o * tanh(c_t)).

    Extra attributes: ``activations`` (T, B, 4H) gate activations, ``cells`` (T, B, H)
    c_t, ``tanh_cells`` (T, B, H), ``unprojected`` (T, B, H) o * tanh(c_t) when
    projecting; after backward ``grad_cells`` (T, B, H), dL/dc_t in total.
    """

    gate_names = CELL_TYPES["lstm"].gate_names

    def __init__(self, w_hh: np.ndarray, reverse: bool, w_hr: np.ndarray | None) -> None:
        super().__init__(w_hh, reverse)
        self.w_hr = w_hr  # (P, H) or None
        self.grad_cells: np.ndarray | None = None

    def forward(
        self, xp: np.ndarray, h0: np.ndarray, c0: np.ndarray, active: np.ndarray | None
    ) -> None:
        """Run the loop; ``xp`` (T, B, 4H) becomes the gate activations."""
        num_steps, batch, hidden = xp.shape[0], xp.shape[1], c0.shape[-1]
        self._allocate_states(h0, num_steps, active)
        cbuf = np.empty((num_steps + 1, batch, hidden), dtype=c0.dtype)
        if self.reverse:
            cbuf[num_steps] = c0
            self.cells, self.previous_cells = cbuf[:-1], cbuf[1:]
        else:
            cbuf[0] = c0
            self.cells, self.previous_cells = cbuf[1:], cbuf[:-1]
        self.c0, self.activations = c0, xp
        self.tanh_cells = np.empty_like(self.cells)
        self.unprojected = None if self.w_hr is None else np.empty_like(self.cells)
        recurrent = np.empty((batch, 4 * hidden), dtype=xp.dtype)
        i_f_g_o = _gate_slices(4, hidden)
        # One tanh over all four gates: sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5 for i, f, o.
        # (Measured: as fast here as an exp-based sigmoid on i, f, o plus a tanh on g.)
        scale, offset = _tanh_form(
            xp.dtype, batch, hidden, sigmoid_gates=(0, 1, 3), tanh_gates=(2,)
        )
        w_hh_t = np.ascontiguousarray(self.w_hh.T)
        w_hr_t = None if self.w_hr is None else np.ascontiguousarray(self.w_hr.T)
        scratch = np.empty((batch, hidden), dtype=xp.dtype)
        for t in self._steps(num_steps):
            n = self._running(t)
            gates = xp[t][:n]
            gates += np.matmul(self.previous[t][:n], w_hh_t, out=recurrent[:n])
            gates *= scale[:n]
            np.tanh(gates, out=gates)
            gates *= scale[:n]
            gates += offset[:n]
            i, f, g, o = (gates[:, block] for block in i_f_g_o)
            c = self.cells[t][:n]
            np.multiply(f, self.previous_cells[t][:n], out=c)
            c += np.multiply(i, g, out=scratch[:n])
            tanh_c = np.tanh(c, out=self.tanh_cells[t][:n])
            if w_hr_t is None:
                np.multiply(o, tanh_c, out=self.states[t][:n])
            else:
                m = np.multiply(o, tanh_c, out=self.unprojected[t][:n])
                np.matmul(m, w_hr_t, out=self.states[t][:n])
            if n < batch:
                xp[t][n:] = 0
                self.tanh_cells[t][n:] = 0
                if w_hr_t is not None:
                    self.unprojected[t][n:] = 0
                self.cells[t][n:] = self.previous_cells[t][n:]
                self.states[t][n:] = self.previous[t][n:]

    def backward(
        self,
        grad_out: np.ndarray,
        grad_hn: np.ndarray,
        grad_cn: np.ndarray,
        params: bool = True,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """BPTT. ``grad_out`` (T, B, P), ``grad_hn`` (B, P), ``grad_cn`` (B, H).

        Returns ``grad_xp`` (T, B, 4H) (gradient of the gate pre-activations),
        {weight_hh, bias_hh[, weight_hr]} (empty when not ``params``), dL/dh0 (B, P),
        dL/dc0 (B, H).
        """
        batch, hidden = self.cells.shape[1:]
        dtype = self.cells.dtype
        grad_gates = self._per_step_buffer(self.activations.shape, self.activations.dtype)
        self.grad_states = np.empty_like(self.states)
        self.grad_cells = np.empty_like(self.cells)
        i_f_g_o = _gate_slices(4, hidden)
        # d(activation)/d(pre-activation) = (1 - a) * (a + shift): a(1 - a) for the
        # sigmoid gates, (1 - g)(1 + g) = 1 - g^2 for the tanh gate g.
        shift = np.zeros(4 * hidden, dtype)
        shift[i_f_g_o[2]] = 1
        slope, lifted = np.empty((batch, 4 * hidden), dtype), np.empty((batch, 4 * hidden), dtype)
        scratch = np.empty((batch, hidden), dtype)
        dh, dc = grad_hn.copy(), grad_cn.copy()
        for t in reversed(self._steps(self.states.shape[0])):
            dh += grad_out[t]
            self.grad_states[t] = dh
            n = self._running(t)
            activations, dgates = self.activations[t][:n], grad_gates[t][:n]
            i, f, g, o = (activations[:, block] for block in i_f_g_o)
            di, df, dg, do = (dgates[:, block] for block in i_f_g_o)
            dm = dh[:n] if self.w_hr is None else dh[:n] @ self.w_hr
            tanh_c, dc_run, sc = self.tanh_cells[t][:n], dc[:n], scratch[:n]
            # dc += dm * o * (1 - tanh(c)^2)
            np.multiply(tanh_c, tanh_c, out=sc)
            np.subtract(1, sc, out=sc)
            sc *= o
            sc *= dm
            dc_run += sc
            self.grad_cells[t] = dc
            np.multiply(dc_run, g, out=di)
            np.multiply(dc_run, self.previous_cells[t][:n], out=df)
            np.multiply(dc_run, i, out=dg)
            np.multiply(dm, tanh_c, out=do)
            np.subtract(1, activations, out=slope[:n])
            slope[:n] *= np.add(activations, shift, out=lifted[:n])
            dgates *= slope[:n]
            dc_run *= f
            dh[:n] = dgates @ self.w_hh
        if not params:
            return grad_gates, {}, dh, dc
        flat = grad_gates.reshape(-1, 4 * hidden)
        grads = {
            "weight_hh": flat.T @ self.previous.reshape(-1, self.previous.shape[-1]),
            "bias_hh": flat.sum(axis=0),
        }
        if self.w_hr is not None:  # unprojected is zero past each length
            grad_states = self.grad_states.reshape(-1, self.grad_states.shape[-1])
            grads["weight_hr"] = grad_states.T @ self.unprojected.reshape(-1, hidden)
        return grad_gates, grads, dh, dc


class GRURecurrence(Recurrence):
    """torch's GRU, gates in torch's order r, z, n.

    r, z = sigmoid(xp_t + W_h{r,z} h_{t-1}) (both biases in xp);
    n = tanh(xp_n + r * (W_hn h_{t-1} + b_hn));  h_t = (1 - z) * n + z * h_{t-1}.

    Extra attributes: ``activations`` (T, B, 3H) r, z, n; ``hidden_n`` (T, B, H),
    W_hn h_{t-1} + b_hn, which the backward pass needs.
    """

    gate_names = CELL_TYPES["gru"].gate_names

    def __init__(self, w_hh: np.ndarray, reverse: bool, b_hn: np.ndarray | None) -> None:
        super().__init__(w_hh, reverse)
        self.b_hn = b_hn  # (H,) or None without bias

    def forward(self, xp: np.ndarray, h0: np.ndarray, active: np.ndarray | None) -> None:
        """Run the loop; ``xp`` (T, B, 3H) becomes the gate activations.

        The r and z pre-activations are negated once up front (in xp, and in the
        columns of W_hh^T), so each step takes sigmoid(z) = 1 / (1 + exp(-z)) as
        one exp: NumPy's exp is faster than its tanh. Negation is exact.
        """
        num_steps, batch, hidden = xp.shape[0], xp.shape[1], h0.shape[-1]
        self._allocate_states(h0, num_steps, active)
        self.activations = xp
        self.hidden_n = self._per_step_buffer((num_steps, batch, hidden), xp.dtype)
        recurrent = np.empty((batch, 3 * hidden), dtype=xp.dtype)
        scratch = np.empty((batch, hidden), dtype=xp.dtype)
        r_block, z_block, n_block = _gate_slices(3, hidden)
        r_and_z = slice(0, 2 * hidden)
        # A copy in every case (ascontiguousarray returns the parameter itself when the
        # transpose is already contiguous, as for hidden size 1): negated in place here.
        w_hh_t = np.array(self.w_hh.T, order="C")
        w_hh_t[:, r_and_z] *= -1
        xp[..., r_and_z] *= -1
        with np.errstate(over="ignore"):  # in sigmoid_of_negated_
            for t in self._steps(num_steps):
                running = self._running(t)
                gates, h_prev = xp[t][:running], self.previous[t][:running]
                rec = np.matmul(h_prev, w_hh_t, out=recurrent[:running])
                hidden_n = self.hidden_n[t][:running]
                if self.b_hn is None:
                    hidden_n[...] = rec[:, n_block]
                else:
                    np.add(rec[:, n_block], self.b_hn, out=hidden_n)
                gates[:, r_and_z] += rec[:, r_and_z]
                sigmoid_of_negated_(gates[:, r_and_z])
                r, z, n = gates[:, r_block], gates[:, z_block], gates[:, n_block]
                n += np.multiply(r, hidden_n, out=scratch[:running])
                np.tanh(n, out=n)
                h = self.states[t][:running]
                # h = n + z * (h_prev - n)
                np.subtract(h_prev, n, out=h)
                h *= z
                h += n
                if running < batch:
                    xp[t][running:] = 0
                    self.states[t][running:] = self.previous[t][running:]

    def backward(
        self,
        grad_out: np.ndarray,
        grad_hn: np.ndarray,
        _grad_cn: None = None,
        params: bool = True,
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, None]:
        """BPTT. ``grad_out`` (T, B, H), ``grad_hn`` (B, H).

        Returns ``grad_xp`` (T, B, 3H), {weight_hh, bias_hh} (empty when not ``params``),
        dL/dh0 (B, H), None.
        """
        batch, hidden = self.states.shape[1:]
        # Gradient of (W_hh h_{t-1} + b_hh); it equals grad_xp except in the n block.
        grad_recurrent = self._per_step_buffer(self.activations.shape, self.activations.dtype)
        grad_xp_n = self._per_step_buffer(self.hidden_n.shape, self.hidden_n.dtype)
        self.grad_states = np.empty_like(self.states)
        scratch = np.empty((batch, hidden), dtype=self.states.dtype)
        blocks = _gate_slices(3, hidden)
        dh = grad_hn.copy()
        for t in reversed(self._steps(self.states.shape[0])):
            dh += grad_out[t]
            self.grad_states[t] = dh
            running = self._running(t)
            r, z, n = (self.activations[t][:running, block] for block in blocks)
            dr, dz, dhn = (grad_recurrent[t][:running, block] for block in blocks)
            h_prev, dh_run, sc = self.previous[t][:running], dh[:running], scratch[:running]
            dn = grad_xp_n[t][:running]
            # dn_pre = dh * (1 - z) * (1 - n^2)
            np.subtract(1, z, out=dn)
            dn *= dh_run
            np.multiply(n, n, out=sc)
            np.subtract(1, sc, out=sc)
            dn *= sc
            # dz_pre = dh * (h_prev - n) * z * (1 - z)
            np.subtract(h_prev, n, out=dz)
            dz *= dh_run
            np.subtract(1, z, out=sc)
            sc *= z
            dz *= sc
            # dr_pre = dn_pre * hidden_n * r * (1 - r); d(hidden_n) = dn_pre * r
            np.multiply(dn, self.hidden_n[t][:running], out=dr)
            np.subtract(1, r, out=sc)
            sc *= r
            dr *= sc
            np.multiply(dn, r, out=dhn)
            carried = np.multiply(dh_run, z, out=sc)
            dh_run[...] = grad_recurrent[t][:running] @ self.w_hh
            dh_run += carried
        grads = {}
        if params:
            flat = grad_recurrent.reshape(-1, 3 * hidden)
            grads = {
                "weight_hh": flat.T @ self.previous.reshape(-1, hidden),
                "bias_hh": flat.sum(axis=0),
            }
        grad_xp = grad_recurrent.copy()
        grad_xp[..., 2 * hidden :] = grad_xp_n
        return grad_xp, grads, dh, None
