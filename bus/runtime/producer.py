"""The one producer configuration ecombus trusts, and a confirm-within-a-budget call.

Every producer is idempotent (``acks=all``, retries, ordering kept), compressed and lingers a
little. :meth:`BusProducer.confirm` is for HTTP-facing code: it returns only once the broker
acknowledged the record and raises :class:`~bus.errors.TransientError` when that did not happen
within the caller's budget, so the webhook answers 503 and the platform retries.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer

from bus.errors import TransientError
from bus.runtime.handlers import Headers
from bus.settings import ClientConfig

DeliveryCallback = Callable[[KafkaError | None, Message], None]

PRODUCER_DEFAULTS: ClientConfig = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "zstd",
    "linger.ms": 10,
}


def producer_config(client: ClientConfig, **overrides: Any) -> ClientConfig:
    """librdkafka settings for a no-loss producer; explicit overrides win."""
    return {**client, **PRODUCER_DEFAULTS, **overrides}


class _Both:
    """A delivery callback telling the producer's failure hook and the caller's callback."""

    __slots__ = ("on_delivery", "on_failure")

    def __init__(self, on_failure: Callable[[str, KafkaError], None], on_delivery: DeliveryCallback) -> None:
        self.on_failure, self.on_delivery = on_failure, on_delivery

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.on_failure(msg.topic() or "", err)
        self.on_delivery(err, msg)


class BusProducer:
    """A thin wrapper of confluent-kafka's Producer; no network until the first produce.

    Args:
        config: the client config (``KafkaSettings.client_config()``); defaults are added.
        on_failure: called with (topic, error) for every failed delivery (metrics, logs).
        **overrides: librdkafka keys that win over the defaults (e.g. ``transactional.id``).
    """

    def __init__(self, config: ClientConfig,
                 on_failure: Callable[[str, KafkaError], None] | None = None,
                 **overrides: Any) -> None:
        self._producer = Producer(producer_config(config, **overrides))
        self._on_failure = on_failure
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def raw(self) -> Producer:
        """The confluent-kafka Producer (transactions are driven on it directly)."""
        return self._producer

    def start_polling(self) -> None:
        """Serve delivery callbacks from a daemon thread (for code that never calls poll)."""
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll_forever, name="producer-poll",
                                            daemon=True)
            self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def produce(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                headers: Headers | None = None, timestamp: int | None = None,
                on_delivery: DeliveryCallback | None = None, partition: int | None = None) -> None:
        """Queue one record; waits for room when the local queue is full.

        ``partition`` None lets librdkafka's partitioner choose by key.

        ``on_delivery(err, msg)`` is called from :meth:`poll` (or the poll thread) once the broker
        acknowledged the record or it failed; ``on_failure`` hears of every failure as well.
        """
        if on_delivery is None:
            callback: DeliveryCallback | None = self._report if self._on_failure is not None else None
        elif self._on_failure is None:
            callback = on_delivery
        else:
            callback = _Both(self._on_failure, on_delivery)
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, headers=cast(Any, headers) or None,
                                           timestamp=timestamp or 0, on_delivery=callback)
                else:
                    self._producer.produce(topic, value, key, partition, headers=cast(Any, headers) or None,
                                           timestamp=timestamp or 0, on_delivery=callback)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self._on_failure is not None:
            self._on_failure(msg.topic() or "", err)

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def pending(self) -> int:
        """Records queued or in flight."""
        return len(self._producer)

    def confirm(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]:
        """Produce one record and wait until the broker acknowledged it.

        Returns:
            (partition, offset) of the stored record.

        Raises:
            TransientError: delivery failed or was not confirmed within ``timeout`` seconds.
        """
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def delivered(err: KafkaError | None, msg: Message) -> None:
            outcome["err"], outcome["msg"] = err, msg
            done.set()

        self.produce(topic, value, key, headers, on_delivery=delivered)
        if self._poller is None:
            self._producer.flush(timeout)
        if not done.wait(timeout):
            raise TransientError(f"{topic}: the broker did not acknowledge within {timeout:.1f}s")
        if outcome["err"] is not None:
            raise TransientError(f"{topic}: delivery failed: {outcome['err']}")
        msg = outcome["msg"]
        return int(msg.partition() or 0), int(msg.offset() or 0)

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]:
        """:meth:`confirm` for asyncio code (needs :meth:`start_polling`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()

        def settle(err: KafkaError | None, msg: Message) -> None:
            if future.done():
                return
            if err is not None:
                future.set_exception(TransientError(f"{topic}: delivery failed: {err}"))
            else:
                future.set_result((int(msg.partition() or 0), int(msg.offset() or 0)))

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(settle, err, msg)

        self.start_polling()
        self.produce(topic, value, key, headers, on_delivery=delivered)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise TransientError(
                f"{topic}: the broker did not acknowledge within {timeout:.1f}s") from exc

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued record; returns how many are still undelivered."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> int:
        """Stop the poll thread and flush. Returns the records left undelivered."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=1.0)
            self._poller = None
        return self.flush(timeout)
