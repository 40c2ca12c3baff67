"""Reading manifests (YAML or JSON files, or objects from the API server) into models.

Every failure becomes a `ManifestError` whose one-line message names the source and
the field, in the wire spelling a person wrote (`spec.slices[0].seeds[1].passed`).
The CLI prints it and exits 65; the operator writes it into a `Valid` condition.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .files import FileError, read_text


class ManifestError(FileError):
    """Input that cannot be used as given; retrying will not help, fixing the input will."""


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


def field_path(loc: tuple[int | str, ...]) -> str:
    """`spec.slices[0].seeds[1].passed`; a key that is not a plain name (empty, with a
    newline or a dot, 5,000 characters) is quoted, so the message stays one short line."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        key = part if _PLAIN_KEY.fullmatch(part) else json.dumps(part[:64])
        path += f".{key}" if path else key
    return path


def validation_message(error: ValidationError) -> str:
    """The first problem of a validation error, as `field: what is wrong` (+N more)."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = field_path(tuple(p for p in first["loc"] if not str(p).startswith("function-")))
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] in ("missing",):
        what = "required field is missing"
    elif first["type"] == "extra_forbidden":
        what = "unknown field"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"field {where}: {what}{more}" if where else f"{what}{more}"


def parse[M: BaseModel](data: Any, model: type[M], source: str) -> M:
    """Validate a decoded object as `model`; `source` names it in errors."""
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a mapping, got {type(data).__name__}")
    expected = model.model_fields["kind"].default if "kind" in model.model_fields else None
    if expected is not None and data.get("kind") != expected:
        raise ManifestError(f"{source}: field kind: is {data.get('kind')!r}, expected {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ManifestError(f"{source}: {validation_message(error)}") from None


def load[M: BaseModel](path: Path, model: type[M]) -> M:
    """Read one manifest file (YAML or JSON, a single document)."""
    text = read_text(path, "a manifest file", ManifestError)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ManifestError(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:  # PyYAML's parser recurses once per nesting level
        raise ManifestError(f"{path}: invalid YAML: nested too deeply") from None
    if len(documents) != 1:
        raise ManifestError(f"{path}: expected one YAML document, found {len(documents)}")
    return parse(documents[0], model, str(path))
