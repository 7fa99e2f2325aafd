"""Sessions: tests, fuzz, lint, docs, bench, report, compare, diagnose, profile.

Every session installs with pip and ``constraints.txt``, which pins torch to the
CPU build these machines carry (uv is not used: it does not see that build);
environments are reused between runs.
"""

import hashlib
import logging
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "lint"]

# nox looks for uv on every run and logs "uv binary not found." when it is absent,
# which is how this project is meant to run (pip installs the pinned torch): drop it.
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")

CONSTRAINTS = ("-c", "constraints.txt")


def install_project(session: nox.Session, extras: str = "") -> None:
    """Install the project (editable) with torch pinned by constraints.txt.

    Skipped when the environment already holds this install: same pyproject.toml,
    constraints.txt and extras (a stamp file in the environment records them).
    """
    target = f".[{extras}]" if extras else "."
    recipe = Path("pyproject.toml").read_bytes() + Path("constraints.txt").read_bytes()
    key = hashlib.sha256(recipe + target.encode()).hexdigest()
    stamp = Path(session.virtualenv.location) / ".rnnref-installed"
    if stamp.exists() and stamp.read_text() == key:
        session.log("environment up to date; skipping install")
        return
    session.log(
        f"installing {target} with pip, torch pinned to the CPU build by constraints.txt "
        "(a few minutes on a fresh machine; later runs reuse the environment)"
    )
    session.install(*CONSTRAINTS, "-e", target)
    stamp.write_text(key)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: ``nox -s tests [-- PYTEST-ARGS]``."""
    install_project(session, "test")
    # The suite starts its commands in fresh Python processes, over a hundred of them: let
    # them read compiled modules from __pycache__ (0.15-0.2 s each) where the machine's
    # environment sets PYTHONDONTWRITEBYTECODE (an empty value unsets it for Python).
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    session.run("pytest", *(session.posargs or ["-n", "2"]))


@nox.session
def fuzz(session: nox.Session) -> None:
    """The property-based tests with 1000 examples each: ``nox -s fuzz [-- PYTEST-ARGS]``."""
    install_project(session, "test")
    session.env["HYPOTHESIS_PROFILE"] = "fuzz"
    files = session.posargs or [
        "tests/rnnref/test_properties.py",
        "tests/reports/test_fuzz_files.py",
        "tests/usermodel/test_spec_properties.py",
        "tests/bench/test_shard.py",
        "tests/bench/test_profile.py",
    ]
    session.run("pytest", "-n", "2", "--hypothesis-show-statistics", *files)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/: ``nox -s docs [-- MKDOCS-BUILD-ARGS]``.

    ``mkdocs build --strict`` runs every tutorial in docs/tutorials/ and fails on a broken
    link, a missing page or a tutorial that raises; ``RNNREF_DOCS_EXECUTE=0 nox -s docs``
    skips running the tutorials (seconds).
    """
    install_project(session, "docs")
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # Material's banner about its successor
    session.run("python", "-m", "mkdocs", "build", "--strict", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare two run files: ``nox -s compare -- BASE NEW [-o OUT.html] [--fail-above PCT]``."""
    if len(session.posargs) < 2:
        session.error("usage: nox -s compare -- BASE NEW [-o OUT.html] [--fail-above PCT]")
    install_project(session, "reports")
    session.run("python", "-m", "reports", "compare", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark matrix: ``nox -s bench -- [--preset P] [--shape SHAPE] [--filter EXPR]
    [--out DIR]``, or a model: ``nox -s bench -- model TARGET --input SPEC``."""
    install_project(session, "onnx")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """HTML report of a run file: ``nox -s report -- RUN.json [-o OUT.html]``."""
    if not session.posargs:
        session.error("usage: nox -s report -- RUN.json [-o OUT.html]")
    install_project(session, "reports")
    session.run("python", "-m", "reports", "bench", *session.posargs)


@nox.session
def profile(session: nox.Session) -> None:
    """py-spy flame graph of one case: ``nox -s profile -- CASE-ID [--native] [--out DIR]``."""
    if not session.posargs:
        session.error("usage: nox -s profile -- CASE-ID [--native] [--out DIR]")
    install_project(session, "profile")
    session.run("python", "-m", "bench", "profile", *session.posargs)


@nox.session
def diagnose(session: nox.Session) -> None:
    """Diagnose a model: ``nox -s diagnose -- TARGET --input SPEC [...]``, or ``-- evaluate``."""
    if not session.posargs:
        session.error("usage: nox -s diagnose -- TARGET (--input SPEC | --data FILE) [...]")
    install_project(session, "diagnostics")
    session.run("python", "-m", "diagnostics", *session.posargs)
