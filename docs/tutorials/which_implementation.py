# %% [markdown]
# # Which implementation should I ship my model with?
#
# The same PyTorch model can run in many ways: eager torch, TorchScript,
# `torch.compile`, dynamically quantised to int8 or float16, in bfloat16, exported to
# ONNX Runtime, on a GPU. Which is fastest depends on your model, your input shapes
# and your machine, and some of them are fast because they compute less exactly.
#
# `python -m bench model` answers both halves of the question for your own model: it
# runs it under every deployment path that applies, checks each against the eager
# model in float64, and times the ones that pass. In this tutorial you will:
#
# 1. run `bench model` on a small model file;
# 2. read the report it prints;
# 3. load the run file it writes as a pandas table, and read time against accuracy.

# %%
import pathlib
import shutil
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np

import reports
from reports.runfile import load_run

OUT = pathlib.Path("out/tutorials/which_implementation")
shutil.rmtree(OUT, ignore_errors=True)  # one run file in OUT: this tutorial's

# %% [markdown]
# ## The model
#
# Any file with a function that returns an `nn.Module` will do. This one ships with the
# suite: a GRU that reads a window of a multivariate time series and forecasts the next
# value.

# %%
MODEL_FILE = "diagnostics/examples/gru_forecaster.py"
print(pathlib.Path(MODEL_FILE).read_text())

# %% [markdown]
# ## Run `bench model`
#
# The command takes the model as `file.py:factory` and an input as a SPEC, the dtype
# and shape of a random input (`int64[32,40]<1000` for token ids below 1000), or a
# tensor file with `--data`. To keep this tutorial to seconds:
#
# - `--filter "model and inference and not compile"` keeps the whole-model rows
#   (`model-MODE-PATH`; without `model` the recurrent layers inside it are timed too,
#   each through every layer backend), in inference, the mode you ship, and leaves
#   out `torch.compile`, whose compilation alone takes tens of seconds;
# - `--preset quick` times each row for about half a second, spread over ten passes.
#
# From a shell it is one line:
#
# ```bash
# python -m bench model diagnostics/examples/gru_forecaster.py:build \
#     --input "float32[16,30,8]" --filter "model and inference and not compile" \
#     --preset quick --out out/tutorials/which_implementation
# ```

# %%
command = [
    sys.executable,
    "-m",
    "bench",
    "model",
    f"{MODEL_FILE}:build",
    "--input",
    "float32[16,30,8]",
    "--filter",
    "model and inference and not compile",
    "--preset",
    "quick",
    "--out",
    str(OUT),
]
result = subprocess.run(command, capture_output=True, text=True, check=False)
print("exit status:", result.returncode)
# One line per path as it is built, then the summary. Left out here: the timing of
# each pass and pytest's own lines (it runs the rows).
pytest_lines = ("=", "collecting", "bench/matrix.py::")
for line in (result.stdout + result.stderr).splitlines():
    if line and not line.startswith(pytest_lines) and " pass " not in line:
        print(line)

# %% [markdown]
# ## Read the printed report
#
# - Every path prints when it is built and how long the build took (tracing,
#   exporting, quantising) and its first call: a cost you pay once per process.
# - A path that cannot take this model is **skipped with the tool's own reason** (no
#   CUDA device, an op the exporter refuses), never silently left out.
# - `fastest backend per cell and mode` names the fastest path whose numbers match the
#   float64 model (exact numerics) among the rows whose timing can be trusted; a
#   **lossy** path (int8, fp16, bf16) is listed apart with its error, never as the
#   plain "fastest".
# - A row is **unreliable** when it was timed fewer than 10 times or its spread (IQR)
#   is above a quarter of its median, or the machine was busy with other work while it
#   ran; such a row wins nothing. On a busy machine, run again when it is quiet.
#
# The exit status is 0 when every row passed its accuracy check, 1 when one failed.

# %% [markdown]
# ## Load the run file
#
# The run file (`OUT/model-<time>.json`) holds every row with its raw timings.
# `reports.runfile.load_run` returns it as a dict (in Jupyter it shows a summary);
# `reports.load_runs` makes one pandas row per case.

# %%
run_path = next(OUT.glob("model-*[0-9].json"))
run = load_run(run_path)
run

# %%
frame = reports.load_runs(run_path)
facts = {b["extra_info"]["case"]: b["extra_info"] for b in run["benchmarks"]}
frame["numerics"] = frame["case"].map(lambda case: facts[case]["numerics"])
frame["bound"] = frame["case"].map(lambda case: facts[case]["bound"])
frame["ms"] = frame["median"] * 1e3
frame["iqr_ms"] = frame["iqr"] * 1e3
frame["q1_ms"], frame["q3_ms"] = zip(
    *(np.percentile(data, [25, 75]) * 1e3 for data in frame["data"]), strict=True
)
eager_ms = frame.loc[frame["backend"] == "eager", "ms"].iloc[0]
frame["speedup"] = eager_ms / frame["ms"]
table = frame.sort_values("ms")[
    ["backend", "numerics", "ms", "iqr_ms", "rounds", "speedup", "rel_err", "bound", "noisy"]
]
print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
for skip in run["rnnref"]["skipped"]:
    print(f"skipped {skip['case']}: {skip['reason']}")

# %% [markdown]
# ## Time against accuracy
#
# Read the columns in two groups.
#
# **Time** (`ms`, `iqr_ms`, `rounds`, `speedup`, `noisy`): `ms` is the median time
# of one call on this input, `iqr_ms` the spread between the 25th and 75th percentile
# of the timings, `rounds` how many timings there are. Compare two paths only when
# the difference of their medians is larger than their spreads; `noisy` marks a row
# whose spread is above 10% of its median. `speedup` is eager's median over the row's.
#
# **Accuracy** (`numerics`, `rel_err`, `bound`): every path's outputs were compared with
# the eager model run in float64 on the same input. `rel_err` is max|out - ref| /
# max|ref| over the outputs; `bound` is what the path's numerics allow (`fp32`: 1e-4;
# int8, fp16 and bf16 much looser). A path out of its bound fails and is not timed at
# all. Within `fp32` the paths compute the same function up to round-off: choose by
# time. A lossy path (`int8`, `fp16`, `bf16`) may be faster, but its `rel_err` is the
# price: check it on your own metric (accuracy, loss) before you ship it.

# %%
rows = frame.sort_values("ms", ascending=False)  # the fastest at the top
y = np.arange(len(rows))
lossy = (rows["numerics"] != "fp32").to_numpy()
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
spread = [rows["ms"] - rows["q1_ms"], rows["q3_ms"] - rows["ms"]]
left.errorbar(rows["ms"], y, xerr=spread, fmt="none", ecolor="gray")
right.scatter(rows["bound"], y, marker="|", s=300, color="red", label="bound")
for mask, color, label in ((~lossy, "tab:blue", "fp32"), (lossy, "tab:orange", "lossy")):
    left.scatter(rows["ms"][mask], y[mask], color=color, zorder=3, label=label)
    right.scatter(rows["rel_err"][mask], y[mask], color=color, zorder=3)
left.set_yticks(y, rows["backend"])
left.set_xscale("log")
left.set_xlabel("median time per call (ms; line: 25th to 75th percentile)")
left.set_title("time")
left.legend()
right.set_xscale("log")
right.set_xlabel("relative error against float64 eager")
right.set_title("accuracy")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Next
#
# - Drop `inference` from the filter to time training (forward and backward) too, and
#   `not compile` to include `torch.compile`; drop `model` to time the recurrent layers
#   inside your model at the shapes they really see, under every layer backend.
# - `python -m reports bench RUN.json` writes the HTML report of a run file again;
#   `python -m reports compare BASE.json NEW.json` compares two runs (a new torch, a
#   new machine) row by row, beyond the measured noise.
