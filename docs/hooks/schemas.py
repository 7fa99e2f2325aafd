"""MkDocs hook: the JSON Schemas page, generated from ``reports/schemas/*.json``.

Each schema the package ships is copied into the site as it is (``schemas/NAME``, to
download and validate against) and shown on ``schemas.md``: its title and description,
one table per object definition (field, type, required, description) and the whole
file. Nothing is copied by hand, so the page is the shipped schema.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGE = "schemas.md"
SCHEMAS = "reports/schemas"

INTRO = """# JSON Schemas

The run file and the findings file are checked against these JSON Schemas (draft
2020-12), shipped in the package as `reports/schemas/*.json`; validate your own files
with any JSON Schema tool. What the fields hold is on [File formats](formats.md).
This page is generated from the shipped files when the site is built.
"""


def anchor(prefix: str, name: str) -> str:
    """The id of a definition's section: unique across the schemas on the page."""
    return f"{prefix}-{name}".replace("_", "-")


def type_of(spec: dict[str, Any], prefix: str) -> str:
    """A short type for a property: its type(s), a link to its ``$ref``, enum or constant."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f"[`{name}`](#{anchor(prefix, name)})"
    if "enum" in spec:
        return " or ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    kinds = spec.get("type", "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else kinds
    if text == "array" and isinstance(spec.get("items"), dict):
        text += " of " + type_of(spec["items"], prefix)
    for key in ("anyOf", "oneOf"):
        if key in spec:
            text = " or ".join(type_of(option, prefix) for option in spec[key])
    return text


def object_table(name: str, spec: dict[str, Any], prefix: str, top: bool = False) -> list[str]:
    """One definition's section: its fields as a Markdown table (none: its type alone).
    The top level's description is the schema's, shown above it."""
    lines = [f"### `{name}` {{#{anchor(prefix, name)}}}", ""]
    if spec.get("description") and not top:
        lines += [spec["description"], ""]
    properties = spec.get("properties")
    if not properties:
        return [*lines, f"Type: {type_of(spec, prefix)}.", ""]
    required = set(spec.get("required", []))
    described = any("description" in field_spec for field_spec in properties.values())
    lines += [
        "| field | type | required |" + (" description |" if described else ""),
        "|---|---|---|" + ("---|" if described else ""),
    ]
    for field, field_spec in properties.items():
        mark = "yes" if field in required else ""
        row = f"| `{field}` | {type_of(field_spec, prefix)} | {mark} |"
        if described:
            row += " " + field_spec.get("description", "").replace("|", "\\|") + " |"
        lines.append(row)
    return [*lines, ""]


def render(paths: list[pathlib.Path]) -> str:
    """The page for the given schema files."""
    lines = [INTRO]
    for path in paths:
        schema = json.loads(path.read_text())
        prefix = path.name.removesuffix(".schema.json")
        lines += [
            f"## {schema.get('title', path.name)}",
            "",
            f"File: [`{path.name}`](schemas/{path.name}).",
            "",
            schema.get("description", ""),
            "",
            *object_table("top level", schema, prefix, top=True),
        ]
        for name, spec in schema.get("$defs", {}).items():
            lines += object_table(name, spec, prefix)
        lines += [
            f'??? note "The whole schema: {path.name}"',
            "",
            "    ```json",
            *("    " + line for line in json.dumps(schema, indent=2).splitlines()),
            "    ```",
            "",
        ]
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the schemas page and a copy of each schema file."""
    root = pathlib.Path(config.config_file_path).parent
    paths = sorted((root / SCHEMAS).glob("*.json"))
    for path in paths:
        files.append(File.generated(config, f"schemas/{path.name}", content=path.read_bytes()))
    files.append(File.generated(config, PAGE, content=render(paths)))
    return files
