"""``ecombus tail TOPIC``: print a topic's records as JSON lines, decoded with their writer schema.

Without ``--group`` the command reads with ``assign()`` and never commits, so it leaves no trace
in any consumer group (the throwaway ``group.id`` librdkafka requires is never joined). Without
``--follow`` it stops at the end of the partitions as they were when it started.
"""

from __future__ import annotations

import base64
import difflib
import uuid
from typing import Any

import click
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
)
from confluent_kafka import TopicPartition as TP

from bus.errors import BusError, SerializationError, TransientError
from bus.serde import AvroDecoder, RegistryClient
from bus.serde.json_view import iso_from_millis, text_or_base64, to_json
from bus.settings import KafkaSettings, RegistrySettings, load

TIMEOUT_S = 10.0


@click.command("tail")
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record (default: the end).")
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None, help="Stop after N records.")
@click.option("--follow", "-f", is_flag=True, help="Keep waiting for new records (Ctrl-C stops).")
@click.option("--partition", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.option("--key", default=None, help="Only records with this key.")
@click.option("--headers", "with_headers", is_flag=True, help="Include record headers.")
@click.option("--raw", is_flag=True, help="Do not decode: the value as base64.")
@click.option("--group", default=None, help="Join this consumer group and commit offsets (default: none).")
@click.option("--registry-url", default=None, help="Overrides SCHEMA_REGISTRY_URL.")
@click.option("--bootstrap-servers", default=None, help="Overrides KAFKA_BOOTSTRAP_SERVERS.")
def tail(topic: str, from_beginning: bool, max_records: int | None, follow: bool, partitions: tuple[int, ...],
         key: str | None, with_headers: bool, raw: bool, group: str | None, registry_url: str | None,
         bootstrap_servers: str | None) -> None:
    """Print TOPIC's records as JSON lines: topic, partition, offset, timestamp, key, value.

    \b
    Values are decoded with the schema each record was written with (any topic whose
    <topic>-value subject exists): decimals as strings, timestamps ISO 8601, text as written.
    Example: ecombus tail orders.placed.v1 --from-beginning --max 5 | jq .value.totals
    """
    kafka = load(KafkaSettings, bootstrap_servers=bootstrap_servers)
    decoder = None if raw else AvroDecoder(
        RegistryClient.from_settings(load(RegistrySettings, url=registry_url)), use_contracts=False)
    consumer = Consumer({
        **kafka.client_config(), "group.id": group or f"ecombus-tail-{uuid.uuid4().hex}",
        "enable.auto.commit": group is not None, "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest", "enable.partition.eof": True,
    })
    try:
        reader = _Reader(consumer, topic, kafka.bootstrap_servers, follow)
        reader.start(list(partitions), from_beginning, group)
        printed = reader.run(decoder, max_records, key, with_headers, group is not None)
    except KeyboardInterrupt:
        printed = -1
    finally:
        consumer.close()
    if printed == 0 and not from_beginning and not follow:
        click.echo("no records: nothing new since the start; use --from-beginning or --follow", err=True)


class _Reader:
    """Positions a consumer on a topic and reads until the end offsets seen at start."""

    def __init__(self, consumer: Consumer, topic: str, bootstrap: str, follow: bool) -> None:
        self.consumer, self.topic, self.bootstrap, self.follow = consumer, topic, bootstrap, follow
        self.end: dict[int, int] = {}
        self.done: set[int] = set()
        self.assigned: set[int] = set()

    def start(self, partitions: list[int], from_beginning: bool, group: str | None) -> None:
        existing = self._partitions()
        unknown = sorted(set(partitions) - set(existing))
        if unknown:
            raise BusError(f"topic {self.topic!r} has partitions {existing}, not {unknown}")
        wanted = partitions or existing
        for p in wanted:
            low, high = self.consumer.get_watermark_offsets(TP(self.topic, p), timeout=TIMEOUT_S)
            self.end[p] = high
            if high <= low:
                self.done.add(p)
        if group and not partitions:
            self.consumer.subscribe([self.topic], on_assign=self._on_assign)
            return
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        if group:
            self.consumer.assign([TP(self.topic, p) for p in wanted])  # committed offsets, else reset
        else:
            self.consumer.assign([TP(self.topic, p, start) for p in wanted])
        self.assigned = set(wanted)
        if not from_beginning and not group:
            self.done |= self.assigned

    def _on_assign(self, _consumer: Consumer, partitions: list[TP]) -> None:
        self.assigned = {tp.partition for tp in partitions}

    def _partitions(self) -> list[int]:
        try:
            metadata = self.consumer.list_topics(self.topic, timeout=TIMEOUT_S)
            found = metadata.topics.get(self.topic)
            if found is not None and found.error is None:
                return sorted(found.partitions)
            names = sorted(self.consumer.list_topics(timeout=TIMEOUT_S).topics)
        except KafkaException as exc:
            raise TransientError(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        similar = difflib.get_close_matches(self.topic, names, n=5, cutoff=0.6)
        prefix = self.topic.split(".")[0] + "."
        similar += [n for n in names if n.startswith(prefix) and n not in similar][: 8 - len(similar)]
        hint = (f"similar topics: {', '.join(similar)}" if similar
                else f"{len(names)} topics exist, none similar")
        raise BusError(f"topic {self.topic!r} does not exist on {self.bootstrap}; {hint}")

    def finished(self) -> bool:
        return not self.follow and bool(self.assigned) and self.assigned <= self.done

    def run(self, decoder: AvroDecoder | None, max_records: int | None, key: str | None,
            with_headers: bool, commit: bool) -> int:
        """Print records until the end (or forever with follow); the number printed."""
        printed = 0
        wanted_key = None if key is None else key.encode("utf-8")
        while not self.finished():
            for msg in self.consumer.consume(num_messages=500, timeout=0.5):
                if not self._fresh(msg):
                    continue
                if wanted_key is None or msg.key() == wanted_key:
                    click.echo(_line(msg, decoder, with_headers))
                    printed += 1
                if commit:
                    self.consumer.store_offsets(message=msg)
                if max_records is not None and printed >= max_records:
                    return printed
        return printed

    def _fresh(self, msg: Message) -> bool:
        """True for a record to show; tracks the end of each partition on the way."""
        err = msg.error()
        p, offset = msg.partition(), msg.offset()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                if offset is not None and p is not None and offset >= self.end.get(p, 0):
                    self.done.add(p)
                return False
            if err.fatal() or not err.retriable():
                raise BusError(f"reading {self.topic}: {err.str()}")
            return False
        assert p is not None and offset is not None
        if offset + 1 >= self.end.get(p, 0):
            self.done.add(p)
        return self.follow or offset < self.end.get(p, 0)


def _line(msg: Message, decoder: AvroDecoder | None, with_headers: bool) -> str:
    kind, millis = msg.timestamp()
    value_bytes = msg.value()
    line: dict[str, Any] = {
        "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
        "timestamp": None if kind == TIMESTAMP_NOT_AVAILABLE or millis < 0 else iso_from_millis(millis),
        "key": text_or_base64(msg.key()),
    }
    if value_bytes is None or decoder is None:
        line["value"] = None if value_bytes is None else base64.b64encode(value_bytes).decode("ascii")
    else:
        try:
            line["value"] = decoder.decode(msg.topic() or "", value_bytes)
        except SerializationError as exc:
            line["value"] = None
            line["value_base64"] = base64.b64encode(value_bytes).decode("ascii")
            line["error"] = str(exc)
    if with_headers:
        headers: list[tuple[str, bytes | None]] = msg.headers() or []  # type: ignore[assignment]
        line["headers"] = [{"key": k, "value": text_or_base64(v)} for k, v in headers]
    return to_json(line)


COMMANDS = [tail]
