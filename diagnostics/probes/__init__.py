"""Probes: each turns what was captured or replayed into JSON-ready numbers.

One module per question: gradients through time (:mod:`gradtime`), the
recurrent spectrum and step Jacobians (:mod:`spectrum`), saturation and dead
units (:mod:`saturation`), non-finite values (:mod:`nonfinite`), the whole
model's parameters (:mod:`params`) and a short training run (:mod:`training`).
The probes of one recurrent layer and direction (:mod:`recurrent`, listed in its ``PROBES``)
apply these to one :class:`view.LayerView` and fill the layer record
(:mod:`diagnostics.layerrecord`).
"""
