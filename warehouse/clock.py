"""The one clock the warehouse stamps charges, runs and releases with.

Everything that records *when* reads :func:`utc_now`, so a test can freeze or step time
(e.g. to replay a year of scheduled runs in seconds) by patching this one function.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
