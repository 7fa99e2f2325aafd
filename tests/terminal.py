"""Children started as from a terminal, whatever started the test run.

A command that runs the test suite in the background (``.ci/run &`` from a script) starts
with SIGINT ignored, and an ignored signal stays ignored across exec: a child started from
there never sees Ctrl-C. Tests that press Ctrl-C start their child with SIGINT at its
default, as a shell in a terminal does.
"""

import signal


def sigint_default() -> None:
    """A ``preexec_fn``: SIGINT back to its default action in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
