"""The one timestamp format of the library: ISO-8601 UTC text with milliseconds.

``2024-05-01T12:30:00.250Z`` is what SQLite's ``strftime('%Y-%m-%dT%H:%M:%fZ')``
produces, so SQL defaults and Python writes agree byte for byte, and because every
value has the same width, text comparison and ``ORDER BY`` sort them in time order.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Used as a column DEFAULT in the schema; keep it in step with format_timestamp().
SQL_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as the library's UTC text.

    Args:
        moment: an aware datetime; naive values are refused because their zone is a guess.

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the library stores UTC and needs a time zone")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse the library's UTC text back into an aware datetime."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        # Rows written by hand without a zone are read as UTC, like SQLite does.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
