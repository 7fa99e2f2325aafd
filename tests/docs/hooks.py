"""The documentation site's build hooks (docs/hooks/*.py), imported as modules for tests."""

import importlib.util
import pathlib
from types import ModuleType

HOOKS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "hooks"


def load_hook(name: str) -> ModuleType:
    """``docs/hooks/NAME.py`` as a module (the folder is no package: MkDocs loads it by path)."""
    spec = importlib.util.spec_from_file_location(f"{name}_hook", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
