"""``pip install rnnref`` gives the NumPy reference with numpy alone.

The wheel is built from this tree and installed into an empty virtual environment
(no system site-packages) with its dependencies from the package index, as a user
installs it; there the README's rnnref example runs forward and backward without torch,
and ``to_torch`` says which extra to install.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap
import venv

from tests.hang_guard import SUITE_RUN_S

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import rnnref

    model = rnnref.LSTM(16, 32, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(0).standard_normal((50, 4, 16)).astype(np.float32)
    out, (h_n, c_n) = model(x, lengths=[50, 31, 12, 40])
    grads = model.backward(np.ones_like(out))
    print(out.shape, h_n.shape, grads.params["weight_hh_l1_reverse"].shape)
    small = rnnref.GRU(3, 4, dtype=np.float64, seed=1)
    print(max(rnnref.gradcheck(small, np.ones((5, 2, 3))).values()) < 1e-6)
    print("torch" in sys.modules)
    try:
        model.to_torch()
    except ModuleNotFoundError as missing:
        print(missing)
    """
)


def _run(*command: str, cwd=None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, timeout=SUITE_RUN_S, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_wheel_installs_with_numpy_alone_and_the_reference_runs(tmp_path):
    wheels = tmp_path / "wheels"
    build = ("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT))
    _run(sys.executable, "-m", "pip", *build)  # with the test extra's setuptools
    (wheel,) = wheels.glob("rnnref-*.whl")
    env = tmp_path / "env"
    venv.create(env)  # no pip of its own (ensurepip: 3 s): this pip installs into it
    python = str(env / "bin" / "python")
    pip = (sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check")
    _run(*pip, "install", "-q", str(wheel))
    installed = _run(*pip, "list", "--format=freeze", "--exclude-editable")
    names = {line.split("==")[0].lower() for line in installed.stdout.split()}
    assert names - {"pip", "setuptools", "wheel"} == {"numpy", "rnnref"}, installed.stdout
    done = _run(python, "-c", SCRIPT, cwd=tmp_path)  # not the source tree: the installed wheel
    assert done.stdout.splitlines() == [
        "(50, 4, 64) (4, 4, 32) (128, 32)",
        "True",
        "False",
        "rnnref.from_torch and to_torch need torch: pip install 'rnnref[torch]'",
    ]
