"""From a step's raw input values to validated, typed inputs.

Order matters: templates are rendered first (over the job), then designer strings are
coerced to the schema's types, then the whole object is validated. Bad input fails
here, naming the input, and never reaches Pipedrive.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import deque
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any
from urllib.parse import unquote

from .errors import StepError

_FORMATS = {
    "date": "write it as YYYY-MM-DD",
    "date-time": "write it as YYYY-MM-DDTHH:MM:SSZ (RFC 3339)",
    "uuid": "write it as 8-4-4-4-12 hex digits",
}
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


@lru_cache(maxsize=1)
def _jinja() -> tuple[Any, type[Exception]]:
    """The one Jinja environment (sandboxed, strict) and its failed-lookup error, built on first use:
    a step without templates, and so `run` without one, never imports Jinja."""
    from jinja2 import StrictUndefined, TemplateRuntimeError, UndefinedError
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import missing

    class Missing(UndefinedError):
        """A failed lookup, with what was looked in and for, so the error can say what is there instead."""

        def __init__(self, message: str, obj: Any, name: Any):
            super().__init__(message)
            self.obj, self.name = obj, name

    class Undefined(StrictUndefined):
        """Strict, and raising Missing so the error can name the path and list what exists there."""

        __slots__ = ()

        def __init__(self, hint=None, obj=missing, name=None, exc=UndefinedError):
            if hint is None and exc is UndefinedError:  # a plain lookup; the sandbox's refusals keep their own
                exc = partial(Missing, obj=obj, name=name)
            super().__init__(hint, obj, name, exc)

    def finalize(value: Any) -> Any:
        """A JSON null renders as nothing, never as the text 'None': an input that renders empty is not
        set. A list or an object would render as Python text, which no input wants: ask for `| tojson`."""
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            kind = "an object" if isinstance(value, dict) else "a list"
            raise TemplateRuntimeError(
                f"it gives {kind}, which would become Python text; "
                "add | tojson to pass it as JSON, e.g. {{ job.data.lines | tojson }}"
            )
        return value

    env = ImmutableSandboxedEnvironment(
        undefined=Undefined, autoescape=False, keep_trailing_newline=True, finalize=finalize
    )
    return env, Missing


def template_env() -> Any:
    """The runtime's Jinja environment (flows check templates with the same syntax, filters and tests)."""
    return _jinja()[0]


@lru_cache(maxsize=4096)
def _compile(source: str):
    return template_env().from_string(source)


# `{{ a.b.c }}` and nothing else: looked up without Jinja when every step is a key of a plain dict
_PLAIN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None"}
_NO_ANSWER = object()


@lru_cache(maxsize=4096)
def _plain_path(source: str) -> tuple[str, ...] | None:
    match = _PLAIN.fullmatch(source)
    if match is None:
        return None
    parts = tuple(match.group(1).split("."))
    return None if _KEYWORDS & set(parts) else parts


def _plain_render(parts: tuple[str, ...], context: dict[str, Any]) -> Any:
    """What Jinja renders for a plain dotted path, or _NO_ANSWER when Jinja itself must answer (a
    missing key, an attribute of a dict such as `items`, a list or an object as the result)."""
    value: Any = context
    for part in parts:
        if type(value) is not dict or part not in value or (value is not context and hasattr(value, part)):
            return _NO_ANSWER
        value = value[part]
    if value is None:
        return ""
    if type(value) is str:
        return value
    if type(value) in (int, float, bool):
        return str(value)
    return _NO_ANSWER


def render(value: Any, context: dict[str, Any], path: str = "") -> Any:
    """Render every string that holds a template; leave other values untouched."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        parts = _plain_path(value)
        if parts is not None:
            plain = _plain_render(parts, context)
            if plain is not _NO_ANSWER:
                return plain
        from jinja2 import TemplateError

        missing_error = _jinja()[1]
        try:
            return _compile(value).render(context)
        except missing_error as exc:
            raise StepError(
                "input", f"Input '{path}': template failed: {_explain(exc, context)}", input_path=path
            ) from None
        except TemplateError as exc:
            raise StepError(
                "input", f"Input '{path}': template failed: {exc.message or exc}", input_path=path
            ) from None
        except Exception as exc:  # a template may raise anything (division by zero...)
            raise StepError(
                "input", f"Input '{path}': template failed: {type(exc).__name__}: {exc}", input_path=path
            ) from None
    if isinstance(value, dict):
        return {k: render(v, context, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _explain(lookup: Any, context: dict[str, Any]) -> str:
    """Where a lookup failed and what is there: "job.data has no 'compnay'; it has: company, orderId"."""
    from jinja2.utils import missing

    obj, name = lookup.obj, lookup.name
    if obj is missing:
        return f"'{name}' is not defined; templates see: {', '.join(context)}"
    where = _locate(obj, context) or "the value"
    if isinstance(obj, list):
        return f"{where} has no item {name!r}; it is a list of {len(obj)}"
    if not isinstance(obj, dict):
        return f"{where} ({type(obj).__name__}) has no '{name}'"
    keys = [str(k) for k in obj]
    listed = ", ".join(keys[:20]) + (", ..." if len(keys) > 20 else "") if keys else "nothing"
    close = difflib.get_close_matches(str(name), keys, n=1)
    return f"{where} has no '{name}'; it has: {listed}" + (f" (did you mean '{close[0]}'?)" if close else "")


def _locate(target: Any, context: dict[str, Any]) -> str | None:
    """The path of `target` in the template context, found by identity (only when a lookup failed)."""
    queue = deque(context.items())
    while queue:
        path, value = queue.popleft()
        if value is target:
            return path
        if isinstance(value, dict):
            queue.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            queue.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def deprecated_aliases(schema: dict[str, Any]) -> dict[str, str]:
    """{old name: current name} of a schema's inputs."""
    props = schema.get("properties", {})
    return {prop["x-deprecated-alias"]: name for name, prop in props.items() if "x-deprecated-alias" in prop}


def resolve_aliases(raw: Any, schema: dict[str, Any], aliases: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """Old input names (a property's x-deprecated-alias) still work for one release: the value moves to
    the current name, and a note says so."""
    aliases = deprecated_aliases(schema) if aliases is None else aliases
    if not isinstance(raw, dict) or not aliases.keys() & raw.keys():
        return raw, []
    inputs, notes = {}, []
    for key, value in raw.items():
        current = aliases.get(key)
        if current is None:
            inputs[key] = value
        elif current in raw:
            raise StepError(
                "input", f"Input '{key}' is the old name of '{current}'; give only '{current}'", input_path=key
            )
        else:
            inputs[current] = value
            notes.append(
                f"Input '{key}' is deprecated; use '{current}' (the old name is accepted until the next release)"
            )
    return inputs, notes


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


def _enum_option(text: str, schema: dict[str, Any]) -> Any:
    """The enum value a designer means by its value or its label, in any case; None if none fits."""
    wanted = text.strip().casefold()
    labels = schema.get("x-enum-labels", {})
    for option in schema["enum"]:
        if wanted in (str(option).casefold(), str(labels.get(str(option), option)).casefold()):
            return option
    return None


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Turn designer strings into the schema's type; leave what cannot be coerced for the validator."""
    types = _types(schema)
    if isinstance(value, str) and "enum" in schema and value not in schema["enum"]:
        option = _enum_option(value, schema)
        if option is not None:
            return option
    if isinstance(value, str):
        text = value.strip()
        if "string" in types:
            return value
        for t in types:
            try:
                if t == "integer":
                    return int(text)
                if t == "number":
                    number = float(text)
                    integral = number.is_integer() and "." not in text and "e" not in text.lower()
                    return int(number) if integral else number
                if t == "boolean":
                    if text.lower() in _TRUE:
                        return True
                    if text.lower() in _FALSE:
                        return False
                if t in ("array", "object") and text[:1] in "[{":
                    return coerce(json.loads(text), schema)
                if t == "array":
                    parts = [part.strip() for part in text.split(",") if part.strip()]
                    return coerce(parts, schema)
                if t == "null" and text.lower() in ("null", "none"):
                    return None
            except ValueError:
                continue
        return value
    if isinstance(value, bool) and "boolean" not in types and "integer" in types:
        return value  # let the validator say a boolean is not an id
    if isinstance(value, list) and "array" in types:
        items = schema.get("items") or {}
        return [coerce(v, items) for v in value if not (v == "" and items)]
    if isinstance(value, dict) and "object" in types:
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            if v == "":
                continue  # an empty designer field means "not set" (and a required one is then missing)
            sub = props.get(k, extra if isinstance(extra, dict) else {})
            out[k] = coerce(v, sub)
        return out
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and "string" in types
        and not ({"integer", "number"} & set(types))
    ):
        return str(value)
    return value


def check_path_value(name: str, value: Any) -> None:
    """A value that goes into the URL path must stay one segment, however often it is decoded:
    '.', '..', separators and control characters would change which endpoint is called."""
    text = str(value)
    for _ in range(4):
        if text in (".", "..") or "/" in text or "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise StepError(
                "input",
                f"Input '{name}': {value!r} cannot be used in the request path "
                "('.', '..', '/', '\\' and control characters are refused, encoded or not)",
                input_path=name,
            )
        text = unquote(text)


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of a NaN or an infinity in the inputs: JSON has neither, so they cannot be sent."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _non_finite(child, _join(path, str(key)))
        if found is not None:
            return found
    return None


def error_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    return ".".join(p for p in parts if p)


def validation_error(validator, inputs: dict[str, Any]) -> StepError | None:
    """The first, most relevant validation error as a StepError naming the input."""
    from jsonschema.exceptions import best_match

    bad_number = _non_finite(inputs)
    if bad_number is not None:
        return StepError(
            "input",
            f"Input '{bad_number}': NaN and infinities are not numbers Pipedrive accepts",
            input_path=bad_number,
        )
    if validator.is_valid(inputs):  # the common case: no need to rank errors
        return None
    error = best_match(validator.iter_errors(inputs))
    if error is None:
        return None
    path = error_path(error)
    if error.validator == "required":
        message = f"Input '{path}' is required"
    elif error.validator == "enum":
        message = f"Input '{path}': {error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
        close = difflib.get_close_matches(str(error.instance), [str(v) for v in error.validator_value], n=1)
        message += f" (did you mean '{close[0]}'?)" if close else ""
    elif error.validator == "not" and "x-dropped" in error.schema:
        message = f"Input '{path}': {error.schema.get('description') or error.schema['x-dropped']}"
    elif error.validator == "format" and error.validator_value in _FORMATS:
        message = (
            f"Input '{path}': {error.instance!r} is not a valid {error.validator_value}: "
            f"{_FORMATS[error.validator_value]}"
        )
    elif error.validator == "pattern" and error.schema.get("description"):
        message = f"Input '{path}': {error.instance!r} does not fit: {error.schema['description']}"
    elif error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        path = _join(path, unknown[0])
        close = difflib.get_close_matches(unknown[0], known, n=1)
        message = f"Unknown input '{path}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        if len(unknown) > 1:
            message += f"; also unknown: {', '.join(map(repr, unknown[1:]))}"
    else:
        shown = error.message if len(error.message) < 300 else error.message[:300] + "..."
        message = f"Input '{path}': {shown}" if path else shown
    return StepError("input", message, input_path=path or None)


# ---- a plain validity check, so the common step skips jsonschema ------------------------------
_NOTES = {"title", "description", "default", "examples", "$schema", "$comment", "deprecated", "readOnly"}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,  # 2.0 is an integer to jsonschema too, but is left to it
    "number": lambda v: (type(v) is int) or (type(v) is float and math.isfinite(v)),
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
    "array": lambda v: type(v) is list,
    "object": lambda v: type(v) is dict,
}
Check = Callable[[Any], bool]


def _all(checks: list[Check]) -> Check:
    return lambda v: all(check(v) for check in checks)


def _plain(schema: Any) -> Check | None:
    """A check that is True only where jsonschema would find `value` valid (False: "ask jsonschema"),
    or None when the schema uses a keyword this check does not know (formats, combinators, refs...)."""
    if schema is True or schema == {}:
        return lambda v: _non_finite(v) is None  # anything JSON can carry
    if not isinstance(schema, dict):
        return None
    keywords = {k for k in schema if k not in _NOTES and not k.startswith("x-")}
    if not keywords <= {"type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "items"} | {
        "properties",
        "required",
        "additionalProperties",
    }:
        return None
    checks: list[Check] = []
    types = _types(schema)
    if not types or any(t not in _TYPES for t in types):
        return None
    checks.append(lambda v: any(_TYPES[t](v) for t in types))
    if "enum" in schema:
        options = [(type(o), o) for o in schema["enum"]]
        checks.append(lambda v: (type(v), v) in options)
    if "minimum" in schema or "maximum" in schema:
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        checks.append(lambda v: type(v) not in (int, float) or low <= v <= high)
    if "minLength" in schema or "maxLength" in schema:
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", math.inf)
        checks.append(lambda v: type(v) is not str or shortest <= len(v) <= longest)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        checks.append(lambda v: type(v) is not str or pattern.search(v) is not None)
    if "items" in schema:
        item = _plain(schema["items"])
        if item is None:
            return None
        checks.append(lambda v: type(v) is not list or all(item(x) for x in v))
    if keywords & {"properties", "required", "additionalProperties"}:
        props = {name: _plain(sub) for name, sub in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        other = _plain(extra) if extra is not False else (lambda v: False)
        required = list(schema.get("required") or [])

        def fields(value: Any) -> bool:
            if type(value) is not dict:
                return True
            if any(name not in value for name in required):
                return False
            for name, item in value.items():
                check = props[name] if name in props else other
                if check is None or not check(item):
                    return False
            return True

        checks.append(fields)
    return _all(checks)


class PlainCheck:
    """Decides "valid" for the common step without jsonschema: typed values checked against flat schemas
    (types, enums, bounds, lengths, patterns, required and unknown inputs). Any value it cannot vouch
    for (a format, a combinator, a wrong value, a NaN) goes to jsonschema, which also words every error."""

    def __init__(self, schema: dict[str, Any]):
        self._check = _plain(schema)
        self.aliases = deprecated_aliases(schema)  # asked on every step too: computed once

    def __call__(self, inputs: Any) -> bool:
        return self._check is not None and self._check(inputs)
