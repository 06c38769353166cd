"""The declaration machinery itself, on a small made-up operation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.core.errors import FieldProblem, RequestInvalidError
from studio.engines.spec import FieldSpec, FieldType, OperationSpec


def _cites_two(params: dict) -> list[FieldProblem]:
    if "@2" in params.get("prompt", "") and len(params.get("refs", [])) < 2:
        return [FieldProblem("prompt", "cites @2 but fewer than 2 refs are given")]
    return []


OP = OperationSpec(
    id="demo",
    label="Demo",
    method="POST",
    path="/demo",
    fields=(
        FieldSpec("prompt", "Prompt", FieldType.TEXT, max_length=20),
        FieldSpec("lyrics", "Lyrics", FieldType.TEXT),
        FieldSpec("strength", "Strength", FieldType.NUMBER, minimum=0.2, maximum=1.0, step=0.01),
        FieldSpec("count", "Count", FieldType.INTEGER, minimum=-12, maximum=12),
        FieldSpec("loud", "Loud", FieldType.BOOLEAN),
        FieldSpec("fmt", "Format", FieldType.CHOICE, choices=("wav", "mp3")),
        FieldSpec("rate", "Rate", FieldType.CHOICE, choices=(8000, 24000)),
        FieldSpec("hook", "Hook", FieldType.URL, https_only=True),
        FieldSpec("refs", "Refs", FieldType.LIST, max_length=3),
        FieldSpec("image", "Image", FieldType.LIST, max_length=1),
        FieldSpec("parent", "Parent", FieldType.STRING, required=True),
    ),
    at_least_one=(("prompt", "lyrics"),),
    mutually_exclusive=(("refs", "image"),),
    parent_field="parent",
    constants={"model": "m1"},
    extra_checks=(_cites_two,),
)


def problems_of(params: dict) -> list[str]:
    with pytest.raises(RequestInvalidError) as caught:
        OP.validate(params)
    return [str(problem) for problem in caught.value.problems]


def test_valid_request_keeps_given_values_and_adds_constants() -> None:
    sent = OP.validate({"prompt": "dark techno", "lyrics": "", "strength": 0.5, "parent": "p1"})
    assert sent == {"model": "m1", "prompt": "dark techno", "strength": 0.5, "parent": "p1"}
    assert OP.needs_parent


def test_every_rule_is_named_with_its_field() -> None:
    found = problems_of({
        "prompt": "x" * 21, "strength": 1.5, "count": 2.5, "loud": "yes", "fmt": "ogg",
        "rate": "8000", "hook": "http://example.com/cb", "refs": ["a", "b"], "image": ["i"],
        "colour": "red",
    })
    assert "colour: is not a field of demo (prompt, lyrics, strength, count, loud, fmt, rate, " \
        "hook, refs, image, parent)" in found
    assert "prompt: must be at most 20 characters (got 21)" in found
    assert "strength: must be from 0.2 to 1 (got 1.5)" in found
    assert "count: must be a whole number (got 2.5)" in found
    assert "loud: must be true or false (got 'yes')" in found
    assert "fmt: must be one of wav, mp3 (got 'ogg')" in found
    assert "rate: must be one of 8000, 24000 (got '8000')" in found
    assert "hook: must be an https:// URL" in found
    assert "refs and image: only one of them may be given" in found
    assert "parent: is required" in found


def test_at_least_one_group_and_extra_checks() -> None:
    assert problems_of({"parent": "p"}) == ["prompt or lyrics: give at least one of them"]
    assert problems_of({"parent": "p", "prompt": "use @2", "refs": ["a"]}) == [
        "prompt: cites @2 but fewer than 2 refs are given"
    ]


def test_step_grid() -> None:
    assert problems_of({"parent": "p", "lyrics": "la", "strength": 0.255}) == [
        "strength: must be in steps of 0.01 (got 0.255)"
    ]


@given(st.integers(min_value=20, max_value=100))
def test_on_grid_values_in_range_are_accepted(hundredths: int) -> None:
    OP.validate({"parent": "p", "lyrics": "la", "strength": hundredths / 100})


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0.2 <= v <= 1.0))
def test_out_of_range_values_are_rejected_naming_the_field(value: float) -> None:
    with pytest.raises(RequestInvalidError) as caught:
        OP.validate({"parent": "p", "lyrics": "la", "strength": value})
    assert caught.value.problems[0].field == "strength"


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("strength", "0.7", 0.7),
        ("count", "-3", -3),
        ("loud", "Yes", True),
        ("loud", "off", False),
        ("fmt", "mp3", "mp3"),
        ("rate", "24000", 24000),
        ("refs", "a, b", ["a", "b"]),
        ("refs", '["a,1", "b"]', ["a,1", "b"]),
        ("prompt", "  spaced  ", "  spaced  "),
    ],
)
def test_parse_param(name: str, text: str, value: object) -> None:
    assert OP.parse_param(name, text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "many", "count: must be a whole number (got 'many')"),
        ("loud", "perhaps", "loud: must be true or false (got 'perhaps')"),
        ("rate", "44100", "rate: must be one of 8000, 24000 (got '44100')"),
        ("nope", "1", "nope: is not a field of demo"),
    ],
)
def test_parse_param_errors_name_the_field(name: str, text: str, message: str) -> None:
    with pytest.raises(RequestInvalidError) as caught:
        OP.parse_param(name, text)
    assert str(caught.value.problems[0]).startswith(message)
