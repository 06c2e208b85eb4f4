"""The one producer configuration ecombus trusts, and a confirm-within-a-budget call.

Every producer is idempotent (``acks=all``, retries, ordering kept), compressed and lingers a
little. :meth:`BusProducer.confirm` is for HTTP-facing code: it returns only once the broker
acknowledged the record and raises :class:`~bus.errors.TransientError` when that did not happen
within the caller's budget, so the webhook answers 503 and the platform retries.

When librdkafka's local queue is full (``queue.buffering.max.messages``, a broker that is down),
:meth:`BusProducer.produce` waits for room in the calling thread. :meth:`BusProducer.confirm`
waits only within its budget, and :meth:`BusProducer.confirm_async` never blocks or spins the
event loop: it sleeps asynchronously between attempts (the poll thread serves the deliveries
that free the queue) and raises :class:`~bus.errors.Unavailable` when the budget is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer

from bus.errors import TransientError, Unavailable
from bus.runtime.handlers import Headers
from bus.settings import ClientConfig

DeliveryCallback = Callable[[KafkaError | None, Message], None]

QUEUE_FULL_BACKOFF = (0.005, 0.1)
"""First and longest wait (seconds) between attempts to queue a record while the queue is full."""

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

    def _callback(self, on_delivery: DeliveryCallback | None) -> DeliveryCallback | None:
        if on_delivery is None:
            return self._report if self._on_failure is not None else None
        if self._on_failure is None:
            return on_delivery
        return _Both(self._on_failure, on_delivery)

    def try_produce(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                    headers: Headers | None = None, timestamp: int | None = None,
                    on_delivery: DeliveryCallback | None = None, partition: int | None = None) -> bool:
        """Queue one record if the local queue has room; never waits (``partition`` None: by key).

        Returns:
            True when queued; False when the queue is full (nothing was queued, the caller may
            try again once deliveries made room).
        """
        try:
            if partition is None:
                self._producer.produce(topic, value, key, headers=cast(Any, headers) or None,
                                       timestamp=timestamp or 0, on_delivery=self._callback(on_delivery))
            else:
                self._producer.produce(topic, value, key, partition, headers=cast(Any, headers) or None,
                                       timestamp=timestamp or 0, on_delivery=self._callback(on_delivery))
        except BufferError:
            return False
        return True

    def produce(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                headers: Headers | None = None, timestamp: int | None = None,
                on_delivery: DeliveryCallback | None = None, timeout: float | None = None,
                partition: int | None = None) -> None:
        """Queue one record; waits in the calling thread for room when the local queue is full.

        ``partition`` None lets librdkafka's partitioner choose by key.

        ``on_delivery(err, msg)`` is called from :meth:`poll` (or the poll thread) once the broker
        acknowledged the record or it failed; ``on_failure`` hears of every failure as well.
        Never call it from an event loop: use :meth:`confirm_async` there.

        Raises:
            Unavailable: ``timeout`` is given and the queue had no room within it (nothing queued).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_produce(topic, value, key, headers, timestamp, on_delivery, partition):
            left = 0.05 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"{topic}: the producer's local queue stayed full for {timeout:.1f}s")
            self._producer.poll(min(0.05, left))

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
            Unavailable: the local queue had no room within ``timeout`` seconds.
            TransientError: delivery failed or was not confirmed within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def delivered(err: KafkaError | None, msg: Message) -> None:
            outcome["err"], outcome["msg"] = err, msg
            done.set()

        self.produce(topic, value, key, headers, on_delivery=delivered, timeout=timeout)
        if self._poller is None:
            self._producer.flush(max(0.0, deadline - time.monotonic()))
        if not done.wait(max(0.0, deadline - time.monotonic())):
            raise TransientError(f"{topic}: the broker did not acknowledge within {timeout:.1f}s")
        if outcome["err"] is not None:
            raise TransientError(f"{topic}: delivery failed: {outcome['err']}")
        msg = outcome["msg"]
        return int(msg.partition() or 0), int(msg.offset() or 0)

    async def confirm_async(self, topic: str, value: bytes | None, key: bytes | str | None = None,
                            headers: Headers | None = None, timeout: float = 3.0) -> tuple[int, int]:
        """:meth:`confirm` for asyncio code; starts the poll thread (:meth:`start_polling`).

        Never blocks the event loop: while the local queue is full it sleeps asynchronously
        between attempts, and the whole call (queueing and acknowledgement) stays within
        ``timeout``.

        Raises:
            Unavailable: the local queue had no room within ``timeout`` seconds (nothing queued).
            TransientError: delivery failed or was not confirmed within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        future: asyncio.Future[tuple[int, int]] = loop.create_future()

        def settle(err: KafkaError | None, msg: Message) -> None:
            if future.done():
                return
            if err is not None:
                future.set_exception(TransientError(f"{topic}: delivery failed: {err}"))
            else:
                future.set_result((int(msg.partition() or 0), int(msg.offset() or 0)))

        def delivered(err: KafkaError | None, msg: Message) -> None:
            # from the poll thread; a caller that gave up may have closed its loop since
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, err, msg)

        self.start_polling()
        backoff, longest = QUEUE_FULL_BACKOFF
        while not self.try_produce(topic, value, key, headers, on_delivery=delivered):
            left = deadline - loop.time()
            if left <= 0:
                raise Unavailable(f"{topic}: the producer's local queue stayed full for {timeout:.1f}s")
            await asyncio.sleep(min(backoff, left))
            backoff = min(backoff * 2, longest)
        try:
            async with asyncio.timeout_at(deadline):  # (no task per call, unlike wait_for)
                return await future
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
