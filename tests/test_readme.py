"""The README's Python examples run as written and print what the README says they print
(run in a temporary directory: the watch example writes its logs under ``out/``)."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

EXAMPLE = re.compile(
    r"```python\n(?P<code>.*?)```\n\nprints(?:\n\n```text\n(?P<block>.*?)```| `(?P<inline>.*?)`\.)",
    flags=re.S,
)
"""A python block and what the README says it prints: a ```text block, or inline."""


def test_readme_python_blocks_run_and_print_what_is_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = README.read_text()
    examples = list(EXAMPLE.finditer(text))
    assert len(examples) == text.count("```python\n"), "a python block without its output"
    for example in examples:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(example["code"], str(README), "exec"), {})
        if example["block"] is not None:
            assert printed.getvalue() == example["block"]
        else:
            assert " ".join(printed.getvalue().split()) == " ".join(example["inline"].split())
