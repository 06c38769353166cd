"""Retry-After parsing (faults J5) and the backoff policy."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.net.retry import MAX_RETRY_AFTER, Backoff, parse_retry_after

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("300", 300.0),
        ("301", MAX_RETRY_AFTER),
        ("9" * 400, MAX_RETRY_AFTER),  # overflows float to inf: clamped, not an error
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Thu, 02 Jan 2025 03:05:05 GMT", 60.0),
        (format_datetime(NOW + timedelta(days=3), usegmt=True), MAX_RETRY_AFTER),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),  # past: now
    ],
)
def test_valid_values(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "  ",
        "-5",
        "-0.5",
        "nan",
        "NaN",
        "inf",
        "soon",
        "1_000",
        "1e3",
        "0x10",
        "١٢",
        "Thu, 32 Foo 2025",
        "12 seconds",
        "\x00",
        "Wed, 21 Oct 99999999 07:28:00 GMT",
    ],
)
def test_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_naive_now_and_custom_maximum() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Thu, 02 Jan 2025 03:04:15 GMT", now=naive) == pytest.approx(10.0)
    assert parse_retry_after("100", maximum=20.0) == 20.0


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(), st.from_regex(r"-?[0-9]{1,30}(\.[0-9]+)?")))
def test_parser_never_raises(value: str | None) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or (0.0 <= result <= MAX_RETRY_AFTER and not math.isnan(result))


@settings(max_examples=100, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_any_http_date_is_clamped(when: datetime) -> None:
    if when.year < 1900:  # email.utils formats only four-digit years sensibly
        return
    result = parse_retry_after(format_datetime(when, usegmt=True), now=NOW)
    assert result is not None and 0.0 <= result <= MAX_RETRY_AFTER


def test_full_jitter_is_bounded_and_seeded() -> None:
    policy = Backoff(base=0.5, cap=4.0, max_attempts=10, rng=random.Random(1))
    again = Backoff(base=0.5, cap=4.0, max_attempts=10, rng=random.Random(1))
    delays = [policy.delay(n) for n in range(1, 10)]
    assert delays == [again.delay(n) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        assert 0.0 <= d <= min(4.0, 0.5 * 2 ** (n - 1))
    assert 0.0 <= policy.delay(10_000) <= 4.0  # no overflow on absurd attempt numbers


def test_decorrelated_jitter_bounds() -> None:
    policy = Backoff(base=0.2, cap=3.0, jitter="decorrelated", rng=random.Random(7))
    previous = None
    for n in range(1, 30):
        previous = policy.delay(n, previous=previous)
        assert 0.2 <= previous <= 3.0


def test_retry_after_wins_clamped_with_small_jitter() -> None:
    policy = Backoff(base=0.5, cap=2.0, retry_after_max=60.0, rng=random.Random(3))
    for _ in range(50):
        assert 10.0 <= policy.delay(1, retry_after=10.0) <= 10.5
        assert 60.0 <= policy.delay(1, retry_after=1e9) <= 60.5
    assert 0.0 <= policy.delay(1, retry_after=math.nan) <= 0.5  # NaN: computed backoff


def test_invalid_policy_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(max_attempts=0)
