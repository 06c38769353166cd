"""The library's timestamp text sorts like time, which ORDER BY on TEXT relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from studio.library.timestamps import format_timestamp, parse_timestamp

moments = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5))]),
)


@given(moments, moments)
def test_text_order_is_time_order(a: datetime, b: datetime) -> None:
    a_ms = a.replace(microsecond=a.microsecond // 1000 * 1000)
    b_ms = b.replace(microsecond=b.microsecond // 1000 * 1000)
    assert (format_timestamp(a) < format_timestamp(b)) == (a_ms < b_ms)


@given(moments)
def test_round_trip_keeps_milliseconds(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == len("2024-05-01T12:30:00.250Z")
    assert parse_timestamp(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
