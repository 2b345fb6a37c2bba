"""Timestamps as the kit writes them: UTC, whole seconds, ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
