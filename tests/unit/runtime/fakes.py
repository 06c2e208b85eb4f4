"""A stand-in for :class:`bus.runtime.producer.BusProducer` in unit tests of the services' workers."""

from __future__ import annotations

from typing import Any

from bus.settings import KafkaSettings


class FakeProducer:
    """Records what would be produced; ``flush`` reports nothing left."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def produce(self, topic: str, value: bytes | None, key: Any = None, headers: Any = None,
                timestamp: int | None = None, on_delivery: Any = None) -> None:
        self.records.append({"topic": topic, "value": value, "key": key, "headers": headers})

    def flush(self, timeout: float = 30.0) -> int:
        return 0


UNREACHABLE_KAFKA = KafkaSettings(bootstrap_servers="127.0.0.1:1", extra_config={"log_level": "0"})
"""A cluster that is never there, for wiring built but not run (librdkafka kept quiet about it)."""
