"""How every command line of the suite is built: one parser class, one record per job.

A job (``bench``, ``compare``, ``diagnose``, ...) is declared once, as a
:class:`Command`, in its package's ``cli`` module, and mounted twice: under
``python -m PACKAGE`` and under the ``rnnref`` console script (:mod:`rnnref_cli`).
Both get the same conventions from here:

- errors are one line on stderr, ``NAME: error: ...``, NAME being the program
  (``bench``, ``reports``, ``diagnostics``, ``rnnref``), and exit 2; a
  :class:`CommandError` raised by a job's ``run`` is printed the same way
  with its own exit code;
- ``--version`` on every command and subcommand;
- Ctrl-C exits 130 after one line saying what was kept; a reader that goes away
  (`| head`) ends the command quietly, 141;
- a dependency of the job that is not installed is one line naming it and the
  extra to install (``pip install 'rnnref[bench]'``), exit 2;
- any other exception is the suite's own internal error, never the user's: one
  line saying so, the traceback saved to a file (the job's
  :attr:`Command.traceback_file`, else a temporary file) and printed with
  ``--debug``, exit 3.

Standard library only: a command's arguments are declared without importing
torch, so ``--help`` and ``--version`` answer at once; the work is imported when
a job runs.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import os
import pathlib
import platform
import re
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn


def distribution_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (None when it is not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


__version__ = distribution_version("rnnref") or "0+unknown"
"""rnnref's version from the installed package's metadata ("0+unknown" in a source tree
that was never installed)."""


@functools.cache
def version_line() -> str:
    """``rnnref 0.1.0 (Python 3.11.7, numpy 2.4.6, torch 2.13.0+cpu)``, read without importing."""
    parts = [f"Python {platform.python_version()}"]
    parts += [
        f"{name} {distribution_version(name) or 'not installed'}" for name in ("numpy", "torch")
    ]
    return f"rnnref {__version__} ({', '.join(parts)})"


@functools.cache
def dependency_modules() -> frozenset[str]:
    """The import names of rnnref's declared dependencies, every extra's included
    (``pytest-benchmark`` -> ``pytest_benchmark``); empty when rnnref is not installed."""
    try:
        requirements = importlib.metadata.requires("rnnref") or []
    except importlib.metadata.PackageNotFoundError:
        return frozenset()
    names = (re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requirements)
    return frozenset(name.lower().replace("-", "_") for name in names)


def missing_dependency(exc: ModuleNotFoundError) -> str | None:
    """The dependency of rnnref whose absence raised ``exc``, or None (a module of the
    user's own, or of the suite)."""
    top = (exc.name or "").partition(".")[0]
    return top if top.lower() in dependency_modules() else None


def program_name(prog: str) -> str:
    """The program a parser's ``prog`` belongs to: ``python -m reports compare`` -> ``reports``."""
    return prog.removeprefix("python -m ").split()[0]


def at_least(least: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``least`` (``--rounds 0``: "must be >= 1, got 0")."""

    def parse(text: str) -> int:
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
        return value

    parse.__name__ = f"integer >= {least}"  # argparse names the type in its message
    return parse


class CommandError(Exception):
    """A problem the user can fix: ``str()`` is one line; the command exits with ``code``."""

    code = 2


INTERNAL_ERROR = 3
"""The exit code of an internal error of the suite itself (a bug in it, not in the user's
model, input or arguments)."""


class InternalError(BaseException):
    """An exception the suite's own code raised inside the user's code (a hook in the user's
    forward or backward), raised from the original one.

    A BaseException, so that neither the user's ``except Exception`` nor the suite's
    wrapper that reports the user's model failing can take it for the model's error.
    """


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, except that a text with line breaks (a list of commands) is
    kept as written rather than wrapped into one paragraph."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" not in text:
            return super()._fill_text(text, width, indent)
        return "".join(indent + line for line in text.splitlines(keepends=True))


class Parser(argparse.ArgumentParser):
    """argparse with the suite's conventions: ``--version``, and usage errors as one line
    ``NAME: error: MESSAGE (see PROG --help)``, exit 2. Subparsers are Parsers too.

    A parser given a default job (:func:`with_default_job`) runs it when the arguments do
    not start with the name of one of its other jobs: ``python -m bench --preset smoke``
    is ``python -m bench bench --preset smoke``.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--version", action="version", version=version_line(), help="print the version"
        )
        self.default_job: str | None = None
        self.other_jobs: tuple[str, ...] = ()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self.default_job is not None:
            args = list(sys.argv[1:] if args is None else args)
            if not args or args[0] not in self.other_jobs:
                args.insert(0, self.default_job)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{program_name(self.prog)}: error: {message} (see {self.prog} --help)\n")


@dataclass(frozen=True)
class Command:
    """One job on the command line.

    ``arguments`` adds the job's arguments to a parser; ``run`` does the job from the
    parsed arguments and returns the exit code (0 done; 1 the job found what it looks
    for, such as a regression or a failed row), or is None for a group whose
    ``arguments`` mount its subcommands (``history add``, ``history show``);
    ``interrupted`` says, after Ctrl-C, what was kept; ``extra`` is the pip extra
    that installs what the job needs (``rnnref[extra]``); ``traceback_file`` names, from
    the parsed arguments, the file an internal error's traceback is saved to (None: a
    temporary file).
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int] | None = None
    description: str | None = None
    interrupted: str = "nothing more was written"
    extra: str = "all"
    traceback_file: Callable[[argparse.Namespace], pathlib.Path | None] | None = None

    def fill(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Give ``parser`` this job's arguments, and make it run this job."""
        self.arguments(parser)
        if self.run is not None:
            parser.set_defaults(command=self)
        return parser

    def mount(
        self, subcommands: argparse._SubParsersAction, **options: Any
    ) -> argparse.ArgumentParser:
        """This job as a subcommand of ``subcommands`` (from :func:`subcommands`);
        ``options`` go to ``add_parser`` (e.g. ``prog``, ``epilog``)."""
        parser = subcommands.add_parser(
            self.name, help=self.help, description=self.description or self.help, **options
        )
        return self.fill(parser)


def subcommands(
    parser: argparse.ArgumentParser, required: bool = True
) -> argparse._SubParsersAction:
    """``parser``'s subcommands, listed under "commands" in its ``--help``."""
    return parser.add_subparsers(
        title="commands", metavar="COMMAND", required=required, parser_class=Parser
    )


def with_default_job(parser: Parser, default: Command, others: Sequence[Command]) -> None:
    """``PROG ARGS`` runs ``default`` and ``PROG NAME ARGS`` the job NAME of ``others``.

    ``PROG --help`` is the default job's help (it is the program, under the program's
    name), with the other jobs listed after it.
    """
    width = max(len(job.name) for job in others) + 2
    listing = "\n".join(f"  {job.name:<{width}}{job.help}" for job in others)
    jobs = subcommands(parser)
    default.mount(
        jobs,
        prog=parser.prog,
        epilog=f"other commands ({parser.prog} COMMAND --help):\n{listing}",
    )
    for job in others:
        job.mount(jobs)
    parser.default_job, parser.other_jobs = default.name, tuple(job.name for job in others)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the chosen job; return its exit code.

    A :class:`CommandError` is printed as one line ``NAME: error: ...`` (with the traceback
    too when the job has a ``--debug`` flag set), and its code returned; Ctrl-C prints
    what the job kept and returns 130; a closed stdout (``| head``) returns 141 silently;
    any other exception (or an :class:`InternalError`) is an internal error of the suite:
    one line, the traceback saved (:func:`save_traceback`, and printed with ``--debug``),
    :data:`INTERNAL_ERROR` returned.
    """
    args = parser.parse_args(argv)
    name = program_name(parser.prog)
    command: Command = args.command
    try:
        code = command.run(args)
        sys.stdout.flush()  # here, so that a reader gone away is caught below, not at exit
        return code
    except CommandError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.code
    except ModuleNotFoundError as exc:
        module = missing_dependency(exc)
        if module is None:
            return internal_error(exc, args, name)
        print(
            f"{name}: error: this command needs {module}, which is not installed: "
            f"pip install 'rnnref[{command.extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted (Ctrl-C); {command.interrupted}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE
    except (Exception, InternalError) as exc:
        return internal_error(exc, args, name)


def internal_error(exc: BaseException, args: argparse.Namespace, name: str) -> int:
    """Report ``exc`` as an internal error of the suite: one line on stderr, the traceback
    saved (:func:`save_traceback`; printed too with ``--debug``); returns
    :data:`INTERNAL_ERROR`."""
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    command: Command = args.command
    where = save_traceback(exc, command.traceback_file and command.traceback_file(args), name)
    cause = exc.__cause__ if isinstance(exc, InternalError) and exc.__cause__ else exc
    print(
        f"{name}: internal error of the tool, not of your model or input: "
        f"{type(cause).__name__}: {' '.join(str(cause).split())} (traceback in {where}; "
        "please report it)",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


def save_traceback(exc: BaseException, path: pathlib.Path | None, name: str) -> str:
    """Write ``exc``'s traceback to ``path`` (its folder created), or to a new temporary file
    when ``path`` is None or cannot be written; returns where it went ("stderr" when no file
    could be written, and then prints it there)."""
    text = "".join(traceback.format_exception(exc))
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return str(path)
        except OSError:
            pass
    try:
        handle, temporary = tempfile.mkstemp(prefix=f"{name}-internal-error-", suffix=".txt")
        with os.fdopen(handle, "w") as file:
            file.write(text)
        return temporary
    except OSError:
        print(text, end="", file=sys.stderr)
        return "stderr"


def standalone(job: Command, prog: str, argv: Sequence[str] | None = None) -> int:
    """Run ``job`` as a program of its own (``python -m diagnostics cost``); return the exit
    code."""
    return run(job.fill(Parser(prog=prog, description=job.description or job.help)), argv)
