"""How an engine's operations are declared, once, as data; and checking requests against it.

Each engine module declares an ``EngineSpec``: its operations and every field's
type, default, range, step, choices and length, plus "at least one of" groups,
mutual exclusions and whether a parent take is needed. Validation (here), the
composer's forms, the CLI's ``--param`` parsing and the sandbox's strict checks
all read the same declaration, so they cannot disagree.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from studio.core.errors import FieldProblem, RequestInvalidError
from studio.engines.catalog import EngineInfo


class FieldType(enum.StrEnum):
    STRING = "string"  # one line
    TEXT = "text"  # multi-line prose: prompts, lyrics
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"  # one of ``choices`` (strings or numbers)
    URL = "url"  # an http(s) URL the engine fetches
    LIST = "list"  # a list of strings (ids or URLs)


@dataclass(frozen=True)
class FieldSpec:
    """One request field, as the engine's documentation states it."""

    name: str  # the wire name, e.g. "sound_prompt"
    label: str  # what a musician reads, e.g. "Style prompt"
    type: FieldType
    required: bool = False
    default: Any = None  # the engine's default (shown in forms; not sent unless set)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None  # values must sit on this grid from ``minimum`` (or 0)
    choices: tuple[Any, ...] = ()
    max_length: int | None = None  # characters for text, items for lists
    item_max_length: int | None = None  # characters of each list item
    https_only: bool = False  # URLs the engine calls back (callback_url)
    # A regular expression the whole text must match (e.g. TTAPI's digit-only
    # seed), and that rule in words for the message.
    pattern: str | None = None
    pattern_rule: str = "has the wrong form"
    help: str = ""
    advanced: bool = False  # forms may fold it away

    def check(self, value: Any) -> str | None:
        """The rule ``value`` breaks, in words, or None when it is acceptable."""
        checker = _CHECKERS[self.type]
        return checker(self, value)

    def describe_range(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"from {_fmt(self.minimum)} to {_fmt(self.maximum)}"
        if self.minimum is not None:
            return f"at least {_fmt(self.minimum)}"
        if self.maximum is not None:
            return f"at most {_fmt(self.maximum)}"
        return ""


@dataclass(frozen=True)
class OperationSpec:
    """One thing an engine can do, and the request it takes."""

    id: str  # "music", "extend", "create", …
    label: str
    method: str  # HTTP method of the submit call
    path: str  # path under the engine's base URL; "{id}" is filled from a field
    fields: tuple[FieldSpec, ...] = ()
    # Each group: at least one of these fields must be non-empty.
    at_least_one: tuple[tuple[str, ...], ...] = ()
    # Each group: at most one of these fields may be given.
    mutually_exclusive: tuple[tuple[str, ...], ...] = ()
    # The field naming the parent take (e.g. "music_id"); None if no parent is needed.
    parent_field: str | None = None
    # Answers with the result at once (no polling), e.g. TTAPI lyrics.
    synchronous: bool = False
    # Sent with every request of this operation, never chosen by the user.
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Further rules that span fields (e.g. "@audio 3" needs three references).
    extra_checks: tuple[Callable[[Mapping[str, Any]], list[FieldProblem]], ...] = ()
    # Does the user pay for it? Used to warn before submitting.
    paid: bool = True
    help: str = ""

    @property
    def needs_parent(self) -> bool:
        return self.parent_field is not None

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        known = ", ".join(spec.name for spec in self.fields)
        raise KeyError(f"{self.id} has no field {name!r} (known: {known})")

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the declaration; return what to send.

        Values not given are left out (the engine applies its own defaults);
        ``constants`` are added. Raises RequestInvalidError listing every problem,
        each naming the field and the rule.
        """
        problems: list[FieldProblem] = []
        known = {spec.name: spec for spec in self.fields}
        for name in params:
            if name not in known:
                listed = ", ".join(known) or "none"
                problems.append(FieldProblem(name, f"is not a field of {self.id} ({listed})"))
        given = {name: value for name, value in params.items() if _is_given(value)}
        for spec in self.fields:
            if spec.name not in given:
                if spec.required:
                    problems.append(FieldProblem(spec.name, "is required"))
                continue
            rule = spec.check(given[spec.name])
            if rule:
                problems.append(FieldProblem(spec.name, rule))
        for group in self.at_least_one:
            if not any(name in given for name in group):
                problems.append(FieldProblem(" or ".join(group), "give at least one of them"))
        for group in self.mutually_exclusive:
            present = [name for name in group if name in given]
            if len(present) > 1:
                problems.append(
                    FieldProblem(" and ".join(present), "only one of them may be given")
                )
        if not problems:
            for check in self.extra_checks:
                problems.extend(check(given))
        if problems:
            raise RequestInvalidError(self.label, problems)
        return {**dict(self.constants), **{k: v for k, v in given.items() if k in known}}

    def parse_param(self, name: str, text: str) -> Any:
        """Turn a command-line ``--param name=text`` value into the field's type.

        Raises RequestInvalidError naming the field when the text does not fit.
        """
        try:
            spec = self.field(name)
        except KeyError:
            listed = ", ".join(f.name for f in self.fields)
            raise RequestInvalidError(
                self.label, [FieldProblem(name, f"is not a field of {self.id} ({listed})")]
            ) from None
        try:
            return _PARSERS[spec.type](spec, text)
        except ValueError as exc:
            raise RequestInvalidError(self.label, [FieldProblem(name, str(exc))]) from None


@dataclass(frozen=True)
class EngineSpec:
    """An engine and everything it can do."""

    info: EngineInfo
    operations: tuple[OperationSpec, ...]

    def operation(self, operation_id: str) -> OperationSpec:
        for op in self.operations:
            if op.id == operation_id:
                return op
        known = ", ".join(op.id for op in self.operations)
        raise KeyError(f"{self.info.name} has no operation {operation_id!r} (known: {known})")


# --------------------------------------------------------------------------- checks


def _is_given(value: Any) -> bool:
    """Empty strings and lists count as "not given", like an untouched form field."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | tuple):
        return len(value) > 0
    return True


def _fmt(number: float) -> str:
    return f"{number:g}"


def _check_range(spec: FieldSpec, number: float) -> str | None:
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        return f"must be {spec.describe_range()} (got {_fmt(number)})"
    if spec.step:
        origin = spec.minimum if spec.minimum is not None else 0.0
        steps = (number - origin) / spec.step
        if abs(steps - round(steps)) > 1e-6:
            return f"must be in steps of {_fmt(spec.step)} (got {_fmt(number)})"
    return None


def _check_string(spec: FieldSpec, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be text (got {type(value).__name__})"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"must be at most {spec.max_length} characters (got {len(value)})"
    if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
        return f"{spec.pattern_rule} (got {value!r})"
    return None


def _check_integer(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number (got {value!r})"
    return _check_range(spec, value)


def _check_number(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number (got {value!r})"
    if not math.isfinite(value):
        return f"must be a finite number (got {value!r})"
    return _check_range(spec, float(value))


def _check_boolean(spec: FieldSpec, value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"must be true or false (got {value!r})"
    return None


def _check_choice(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or value not in spec.choices:
        listed = ", ".join(str(choice) for choice in spec.choices)
        return f"must be one of {listed} (got {value!r})"
    return None


def _url_rule(spec: FieldSpec, value: str) -> str | None:
    parts = urlsplit(value.strip())
    allowed = ("https",) if spec.https_only else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        kind = "an https:// URL" if spec.https_only else "a public http(s):// URL"
        return f"must be {kind}"
    return None


def _check_url(spec: FieldSpec, value: Any) -> str | None:
    problem = _check_string(spec, value)
    return problem or _url_rule(spec, value)


def _check_list(spec: FieldSpec, value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return "must be a list of text items"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"must have at most {spec.max_length} items (got {len(value)})"
    for index, item in enumerate(value, start=1):
        if not item.strip():
            return f"item {index} is empty"
        if spec.item_max_length is not None and len(item) > spec.item_max_length:
            return f"item {index} must be at most {spec.item_max_length} characters"
    return None


_CHECKERS: dict[FieldType, Callable[[FieldSpec, Any], str | None]] = {
    FieldType.STRING: _check_string,
    FieldType.TEXT: _check_string,
    FieldType.INTEGER: _check_integer,
    FieldType.NUMBER: _check_number,
    FieldType.BOOLEAN: _check_boolean,
    FieldType.CHOICE: _check_choice,
    FieldType.URL: _check_url,
    FieldType.LIST: _check_list,
}


# --------------------------------------------------------------------------- parsing


def _parse_text(spec: FieldSpec, text: str) -> str:
    return text


def _parse_integer(spec: FieldSpec, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"must be a whole number (got {text!r})") from None


def _parse_number(spec: FieldSpec, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"must be a number (got {text!r})") from None
    return value


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _parse_boolean(spec: FieldSpec, text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"must be true or false (got {text!r})")


def _parse_choice(spec: FieldSpec, text: str) -> Any:
    for choice in spec.choices:
        if str(choice) == text.strip():
            return choice
    listed = ", ".join(str(choice) for choice in spec.choices)
    raise ValueError(f"must be one of {listed} (got {text!r})")


def _parse_list(spec: FieldSpec, text: str) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            raise ValueError("is not a valid JSON list") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a JSON list of strings")
        return value
    return [item.strip() for item in stripped.split(",") if item.strip()]


_PARSERS: dict[FieldType, Callable[[FieldSpec, str], Any]] = {
    FieldType.STRING: _parse_text,
    FieldType.TEXT: _parse_text,
    FieldType.INTEGER: _parse_integer,
    FieldType.NUMBER: _parse_number,
    FieldType.BOOLEAN: _parse_boolean,
    FieldType.CHOICE: _parse_choice,
    FieldType.URL: _parse_text,
    FieldType.LIST: _parse_list,
}
