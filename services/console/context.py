"""What every page of the console works with, built once by :mod:`.wiring` (fakes in unit tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from bus.serde.avro import AvroDecoder
from bus.settings import ClientConfig
from services.console.settings import ConsoleSettings

if TYPE_CHECKING:
    from bus.runtime.producer import BusProducer
    from services.console.index import JourneyIndex
    from services.console.tailer import IndexTailer


@dataclass
class Console:
    """The console's parts as the pages see them.

    Attributes:
        settings: the console's settings.
        client: librdkafka configuration (topics browsed, dead letters replayed).
        decoder: Avro through the registry, writer schemas (values shown as written).
        index: the journey index (:mod:`.index`), rebuilt from the topics at start.
        tailer: keeps the index current; says how far the rebuild is.
        producer: produces replayed dead letters and the console's audit records (acks=all).
        registry: the console's metrics.
        extras: what a page family adds for itself (its sampler, its rate limiter), by name.
        clock: wall clock, seconds.
    """

    settings: ConsoleSettings
    client: ClientConfig
    decoder: AvroDecoder | None
    index: JourneyIndex | None = None
    tailer: IndexTailer | None = None
    producer: BusProducer | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    extras: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
