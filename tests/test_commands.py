"""The command lines: one ``rnnref`` console script, the ``python -m`` forms, one convention.

Every parser of every program is walked: each has ``--version``, prints the installed
version, and reports a usage error as one line ``NAME: error: ...`` with exit 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import rnnref
from bench import cli as bench_cli
from diagnostics import cli as diagnostics_cli
from reports import cli as reports_cli
from rnnref_cli import command, console
from tests.hang_guard import COMMAND_S

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reports" / "data"

PROGRAMS = {
    "rnnref": console.parser,
    "python -m bench": bench_cli.parser,
    "python -m reports": reports_cli.parser,
    "python -m diagnostics": diagnostics_cli.parser,
    "python -m bench.reference_speed": lambda: bench_cli.REFERENCE_SPEED.fill(
        command.Parser(prog="python -m bench.reference_speed")
    ),
}

JOBS = {
    "bench",
    "profile",
    "reference-speed",
    "report",
    "compare",
    "table",
    "history",
    "merge",
    "diagnose",
    "evaluate",
    "cost",
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def _tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(argv prefix, parser) of ``parser`` and of every subcommand below it."""
    yield path, parser
    for name, sub in _subparsers(parser).items():
        # a default job's subparser is the program itself: its path is the program's
        hidden = getattr(parser, "default_job", None) == name
        yield from _tree(sub, path if hidden else (*path, name))


COMMANDS = sorted({(prog, path) for prog, build in PROGRAMS.items() for path, _ in _tree(build())})
"""(program, subcommand path) of every command: 'rnnref', ('history', 'show'), ..."""
COMMAND_IDS = [" ".join((prog, *path)) for prog, path in COMMANDS]


def _exit(parser: argparse.ArgumentParser, argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        parser.parse_args(argv)
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_rnnref_help_lists_every_job(capsys):
    code, out, _ = _exit(console.parser(), ["--help"], capsys)
    assert code == 0
    listing = out.split("\ncommands:\n")[1]
    for job in JOBS:
        assert re.search(rf"^    {job}\b", listing, re.MULTILINE), (job, out)
    assert set(_subparsers(console.parser())) == JOBS


@pytest.mark.parametrize(("prog", "path"), COMMANDS, ids=COMMAND_IDS)
def test_every_command_prints_the_version(prog, path, capsys):
    code, out, _ = _exit(PROGRAMS[prog](), [*path, "--version"], capsys)
    assert code == 0
    assert out.startswith(f"rnnref {rnnref.__version__} (Python "), out
    assert f"torch {importlib.metadata.version('torch')}" in out


@pytest.mark.parametrize(("prog", "path"), COMMANDS, ids=COMMAND_IDS)
def test_every_command_reports_a_usage_error_as_one_prefixed_line(prog, path, capsys):
    code, _, err = _exit(PROGRAMS[prog](), [*path, "--no-such-option"], capsys)
    name = prog.removeprefix("python -m ")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"{name}: error: "), err
    assert err.endswith(f"(see {' '.join((prog, *path))} --help)\n") or "unrecognized" in err, err


def test_every_parser_in_the_tree_follows_the_convention():
    for build in PROGRAMS.values():
        for path, parser in _tree(build()):
            assert isinstance(parser, command.Parser), path


def test_version_comes_from_the_package_metadata():
    try:
        installed = importlib.metadata.version("rnnref")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("rnnref is not installed here (nox and CI install it)")
    assert rnnref.__version__ == installed


def test_the_help_names_the_real_presets():
    from bench.presets import PRESETS

    assert tuple(PRESETS) == bench_cli.PRESET_NAMES


def test_a_job_that_raises_prints_one_line_and_returns_its_code(capsys):
    def fail(args: argparse.Namespace) -> int:
        raise command.CommandError("the file is gone")

    def interrupt(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    def no_arguments(parser: argparse.ArgumentParser) -> None:
        pass

    for job, code, line in [
        (command.Command("x", "x", no_arguments, fail), 2, "demo: error: the file is gone"),
        (
            command.Command("x", "x", no_arguments, interrupt, interrupted="kept the rows"),
            130,
            "demo: interrupted (Ctrl-C); kept the rows",
        ),
    ]:
        assert command.standalone(job, "python -m demo", []) == code
        assert capsys.readouterr().err == line + "\n"


def test_a_default_job_takes_arguments_that_name_no_other_job(capsys):
    main = bench_cli.parser()
    assert main.parse_args(["--preset", "smoke"]).command is bench_cli.MATRIX
    assert main.parse_args([]).command is bench_cli.MATRIX
    assert main.parse_args(["model", "m.py:f", "--input", "float32[1,2,3]"]).command is (
        bench_cli.MODEL
    )
    assert main.parse_args(["profile", "a-case"]).command is bench_cli.PROFILE
    code, _, err = _exit(main, ["--presets", "smoke"], capsys)
    assert code == 2 and "unrecognized arguments: --presets smoke" in err
    diagnose = diagnostics_cli.parser()
    args = diagnose.parse_args(["m.py:build", "--input", "float32[2,3,4]"])
    assert args.command is diagnostics_cli.DIAGNOSE and args.target == "m.py:build"
    assert diagnose.parse_args(["evaluate"]).command is diagnostics_cli.EVALUATE


@pytest.mark.parametrize(
    ("source", "job"),
    [("smoke-run.json", "bench"), ("findings-gru_forecaster.json", "diagnose")],
)
def test_rnnref_report_tells_a_run_file_from_a_findings_file(tmp_path, source, job, capsys):
    out = tmp_path / "r.html"
    assert console.main(["report", str(DATA / source), "-o", str(out)]) == 0
    expected = tmp_path / "expected.html"
    assert reports_cli.main([job, str(DATA / source), "-o", str(expected)]) == 0
    assert out.read_text() == expected.read_text()


def test_rnnref_report_refuses_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"findings": ')
    assert console.main(["report", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rnnref: error: {bad}: "), err


def _console_script() -> list[str]:
    beside = pathlib.Path(sys.executable).with_name("rnnref")
    if beside.exists():
        return [str(beside)]
    if shutil.which("rnnref"):
        return ["rnnref"]
    pytest.skip("the rnnref console script is not installed here (nox and CI install it)")


def test_the_console_script_and_python_m_forms_run_as_processes(tmp_path):
    forms = [
        _console_script(),
        [sys.executable, "-m", "rnnref_cli"],
        [sys.executable, "-m", "bench"],
        [sys.executable, "-m", "diagnostics", "evaluate"],
        [sys.executable, "-m", "reports", "compare"],
    ]
    for form in forms:
        done = subprocess.run(
            [*form, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=COMMAND_S
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"rnnref {rnnref.__version__} "), done.stdout
    done = subprocess.run(
        [*_console_script(), "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=COMMAND_S,
    )
    assert done.returncode == 2
    assert done.stderr == f"rnnref: error: {tmp_path / 'a.json'}: no such file\n"


def test_declaring_every_job_imports_no_torch_pandas_or_sqlalchemy():
    heavy = ("torch", "pandas", "sqlalchemy")
    code = (
        "import sys; from rnnref_cli import console; console.parser(); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=COMMAND_S
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_rnnref_report_reads_a_run_file_from_a_pipe(tmp_path):
    # bash's <(...) hands over /dev/fd/N, a pipe: it can be read once, so it is not sniffed
    out = tmp_path / "piped.html"
    script = '"$0" -m rnnref_cli report <(cat "$1") -o "$2"'
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, str(DATA / "smoke-run.json"), str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=COMMAND_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # `rnnref table RUN... | head -1`: the rest of the table has nowhere to go
    command = [sys.executable, "-m", "rnnref_cli", "table", *[str(DATA / "smoke-run.json")] * 30]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    child.stdout.readline()
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=COMMAND_S) == 141 and err == ""


def test_the_readme_lists_every_job_of_the_rnnref_command():
    section = (ROOT / "README.md").read_text().split("## Commands\n")[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `rnnref ([a-z-]+)", section, flags=re.MULTILINE))
    assert listed == JOBS


@pytest.mark.parametrize(
    ("job", "module", "extra"),
    [
        (["table", str(DATA / "smoke-run.json")], "pandas", "reports"),
        (["history", "show", "--db", "sqlite://"], "sqlalchemy", "history"),
        (["bench", "--preset", "smoke", "--filter", "numpy"], "pytest_benchmark", "bench"),
    ],
)
def test_a_missing_dependency_names_the_extra_to_install(tmp_path, job, module, extra):
    # sys.modules[name] = None makes `import name` raise ModuleNotFoundError, as when the
    # package is not installed
    code = (
        f"import sys; sys.modules[{module!r}] = None; from rnnref_cli import console; "
        f"sys.exit(console.main({job!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=COMMAND_S
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"rnnref: error: this command needs {module}, which is not installed: "
        f"pip install 'rnnref[{extra}]'\n"
    )


def test_a_job_that_fails_inside_prints_one_line_saves_the_traceback_and_returns_3(
    tmp_path, capsys
):
    def crash(args: argparse.Namespace) -> int:
        return {}["missing"]

    def no_arguments(parser: argparse.ArgumentParser) -> None:
        pass

    saved = tmp_path / "out" / "internal-error.txt"
    for job, where in [
        (command.Command("x", "x", no_arguments, crash, traceback_file=lambda a: saved), saved),
        (command.Command("x", "x", no_arguments, crash), None),
    ]:
        assert command.standalone(job, "python -m demo", []) == command.INTERNAL_ERROR == 3
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("demo: internal error of the tool, not of your model or input: ")
        assert "KeyError: 'missing'" in line
        path = pathlib.Path(line.split("traceback in ")[1].split(";")[0])
        assert where is None or path == where
        assert "Traceback" in path.read_text() and "crash" in path.read_text()
        if where is None:
            path.unlink()
