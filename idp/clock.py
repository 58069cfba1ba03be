"""The one source of the current time, so tests can move it (time-machine), and the
agency's time in which people read it: pages and mails show Paris time, the
database keeps UTC."""

from datetime import UTC
from datetime import datetime
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

try:
    PARIS = ZoneInfo("Europe/Paris")
except ZoneInfoNotFoundError:  # a system without tz data shows UTC rather than failing
    PARIS = UTC


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)


def fr_datetime(moment: datetime) -> str:
    """« 14/03/2026 à 09:05 », in Paris time."""
    return moment.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def fr_date(moment: datetime) -> str:
    """« 14/03/2026 », the day in Paris (from 23:00 UTC, 22:00 in summer, the next day)."""
    return moment.astimezone(PARIS).strftime("%d/%m/%Y")
