"""In-memory stand-ins for the producer and the dedupe store behind a webhook Publisher."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bus.errors import TransientError
from bus.runtime.handlers import Headers


@dataclass
class FakeSender:
    """Acknowledges every record at once, except on topics listed in ``failing``."""

    produced: list[tuple[str, bytes | None, str | bytes | None, Headers]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    delay: float = 0.0

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if topic in self.failing:
            raise TransientError(f"{topic}: the broker did not acknowledge within {timeout:.1f}s")
        self.produced.append((topic, value, key, list(headers or [])))
        return 0, len(self.produced) - 1

    def topics(self) -> list[str]:
        return [p[0] for p in self.produced]


@dataclass
class FakeDedupe:
    """A ProcessedEvents without Kafka: a set of marked ids."""

    ids: set[str] = field(default_factory=set)

    def seen(self, event_id: str) -> bool:
        return event_id in self.ids

    def mark(self, event_id: str) -> None:
        self.ids.add(event_id)
