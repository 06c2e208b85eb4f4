"""End-to-end latency of a webhook: from the request's start until its OrderPlaced is readable.

A low-rate probe runs beside the load: a thread posts one signed, distinct Shopify order every
``interval`` seconds (on a fixed schedule, each request in its own task) and notes when each request
started; a consumer (isolation.level=read_committed, assigned to the orders topic's end before the
first post) reads the topic and matches records to orders by the order id at the end of the key
(``shopify:<shop>:<id>``). Latency = when the consumer saw the record minus when the request started,
both on this process' monotonic clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
from confluent_kafka import Consumer, TopicPartition

from bench.cluster import BenchCluster
from bench.webhook_load import signed_orders


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class EndToEndProbe:
    """Posts to ``url`` and watches ``orders_topic`` between :meth:`start` and :meth:`stop`.

    Attributes:
        latencies_ms: request start → OrderPlaced seen, per matched order.
        answered: requests answered 2xx; ``failed``: answered otherwise or not at all.
    """

    cluster: BenchCluster
    url: str
    orders_topic: str
    first_id: int
    shop: str
    secret: str
    interval: float = 0.02
    latencies_ms: list[float] = field(default_factory=list)
    answered: int = 0
    failed: int = 0
    seconds: float = 0.0
    _sent: dict[str, float] = field(default_factory=dict)
    _stop_posting: threading.Event = field(default_factory=threading.Event)
    _stop_reading: threading.Event = field(default_factory=threading.Event)
    _poster: threading.Thread | None = None
    _reader: threading.Thread | None = None

    @property
    def rate(self) -> float:
        """2xx answers per second while it posted."""
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def missing(self) -> int:
        """Orders answered 2xx whose OrderPlaced was not seen."""
        return self.answered - len(self.latencies_ms)

    def start(self) -> None:
        # fetch.wait.max.ms: the broker answers a fetch at once when there is data, but a
        # read_committed fetch waiting for a transaction's commit marker waits out the whole
        # wait (500 ms by default); a reader that wants OrderPlaced soon asks for less
        consumer = Consumer({"bootstrap.servers": self.cluster.bootstrap, "group.id": "bench.probe",
                             "isolation.level": "read_committed", "enable.auto.commit": False,
                             "fetch.wait.max.ms": 10})
        partitions = consumer.list_topics(self.orders_topic, timeout=30).topics[self.orders_topic].partitions
        consumer.assign([TopicPartition(self.orders_topic, p,
                                        consumer.get_watermark_offsets(TopicPartition(self.orders_topic, p),
                                                                       timeout=30)[1])
                         for p in partitions])
        self._reader = threading.Thread(target=self._consume, args=(consumer,), name="probe-reader",
                                        daemon=True)
        self._poster = threading.Thread(target=self._post, name="probe-poster", daemon=True)
        self._reader.start()
        self._poster.start()

    def stop(self, wait: float = 15.0) -> None:
        """Stop posting; wait up to ``wait`` seconds for the OrderPlaced still missing."""
        assert self._poster is not None and self._reader is not None
        self._stop_posting.set()
        self._poster.join(30)
        deadline = time.monotonic() + wait
        while len(self.latencies_ms) < self.answered and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop_reading.set()
        self._reader.join(30)

    def _post(self) -> None:
        asyncio.run(self._post_on_schedule())

    async def _post_on_schedule(self) -> None:
        """One request every ``interval`` whatever the latency (each in its own task), so a slow
        answer never delays the next probe."""
        deliveries = signed_orders(self.first_id, 1_000_000, f"probe-{self.first_id}", self.shop, self.secret)
        began = next_at = time.monotonic()
        tasks = set()
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as client:
            for body, headers in deliveries:
                if self._stop_posting.is_set():
                    break
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += self.interval
                task = asyncio.create_task(self._post_one(client, body, headers))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
        self.seconds = time.monotonic() - began

    async def _post_one(self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> None:
        order_id = headers["X-Shopify-Event-Id"].rsplit("-", 1)[1]
        self._sent[order_id] = time.monotonic()
        try:
            ok = (await client.post(self.url, content=body, headers=headers)).is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            self.answered += 1
        else:
            self.failed += 1
            self._sent.pop(order_id, None)

    def _consume(self, consumer: Consumer) -> None:
        try:
            while not self._stop_reading.is_set():
                for msg in consumer.consume(500, timeout=0.005):  # (a batch waits out its timeout)
                    seen, key = time.monotonic(), msg.key()
                    if msg.error() or not isinstance(key, bytes):
                        continue
                    started = self._sent.pop(key.rsplit(b":", 1)[-1].decode(), None)
                    if started is not None:
                        self.latencies_ms.append((seen - started) * 1000)
        finally:
            consumer.close()
