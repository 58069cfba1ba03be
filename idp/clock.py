"""The one source of the current time, so tests can move it (time-machine)."""

from datetime import UTC
from datetime import datetime


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)
