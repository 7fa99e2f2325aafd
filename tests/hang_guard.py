"""Wall-clock limits of the tests: hang guards, never speed checks.

A test waits ten times or more as long as the thing takes on a quiet 2-core machine, so
a busy machine (CI's cores shared with other jobs, an empty inductor cache compiling the
smoke preset's rows from scratch) is slow without failing, and a real hang still ends
the test. Speed is measured in benchmarks (``python -m bench``, ``python -m diagnostics cost``),
never asserted in a test.
"""

SUITE_RUN_S = 1800.0
"""A ``python -m bench`` run of the smoke preset, a shape, a model or a Ray cluster
(quiet: 10 to 90 s, the most with an empty inductor cache)."""

COMMAND_S = 300.0
"""A command that imports the suite and answers at once: ``--version``, a one-line
error, a table or report of a small file (quiet: 1 to 5 s)."""

START_S = 600.0
"""A child process reaching the point a test waits for: its first rows written, the
user's code or the profiler started (quiet: 2 to 20 s)."""

BROWSER_S = 300.0
"""Headless Chromium loading one page, dumping its DOM and taking a screenshot
(quiet: 1 to 3 s)."""

SITE_BUILD_S = 1800.0
"""``mkdocs build --strict`` of the documentation site with its tutorials run (quiet: 10 s
for the pages, plus each tutorial's own run)."""

TUTORIAL_S = 1200.0
"""A tutorial of docs/tutorials run as a script, ``bench model`` included (quiet: 5 to
40 s)."""
