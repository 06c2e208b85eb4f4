"""Declares the console on its :class:`~bus.assembly.Assembly`: the index, the pages, the lag sampler.

Parts: ``index`` (rebuilds the journey index from the topics, then tails them), ``lag-history``
(measures every group's lag for the flow page, an hour kept) and ``web`` (the pages, served from
the start: while the index rebuilds, pages say how far it is). Readiness: the pages answer and
the index caught up once.
Nothing here talks to the network; the parts do when the assembly runs them.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path

from confluent_kafka import Consumer

from bus.assembly import Assembly, ServiceDefinition
from bus.runtime.producer import BusProducer
from bus.serde import AvroDecoder, RegistryClient
from bus.settings import KafkaSettings, RegistrySettings, load
from bus.webhooks.server import HttpServer
from services.console import SERVICE
from services.console.app import create_app
from services.console.context import Console
from services.console.decoding import RecordDecoder
from services.console.index import JourneyIndex
from services.console.ingest import READ_FIELDS
from services.console.lag_history import LAG_HISTORY, LagHistory
from services.console.settings import ConsoleSettings
from services.console.tailer import IndexTailer, consumer_config
from services.console.topic_reader import TopicReader
from services.console.topics import TOPIC_READER

log = logging.getLogger(__name__)


def index_file(settings: ConsoleSettings) -> Path:
    """Where the index lives: ``index_path``, or a new temporary file (rebuilt at every start anyway)."""
    if settings.index_path:
        return Path(settings.index_path)
    return Path(tempfile.mkdtemp(prefix="ecombus-console-")) / "journeys.sqlite"


def build(assembly: Assembly, settings: ConsoleSettings, kafka: KafkaSettings,
          registry: RegistrySettings) -> Console:
    """Declare the console's parts on ``assembly``; returns the :class:`Console` the pages share."""
    client = kafka.client_config()
    registry_client = RegistryClient.from_settings(registry)
    decoder = AvroDecoder(registry_client, use_contracts=False)
    index = JourneyIndex(index_file(settings))
    reading = RecordDecoder(registry_client, keep=READ_FIELDS)  # only the fields the index keeps
    tailer = IndexTailer(index, lambda: Consumer(consumer_config(client)), reading.decode, assembly.registry)
    producer = BusProducer(client)
    console = Console(settings, client, decoder, index=index, tailer=tailer, producer=producer,
                      registry=assembly.registry)
    history = LagHistory.for_cluster(client, settings.lag_interval_seconds)
    console.extras[LAG_HISTORY] = history
    reader = console.extras[TOPIC_READER] = TopicReader(client, decoder)
    assembly.add("index", tailer)
    assembly.add("lag-history", history)
    assembly.add("web", HttpServer(create_app(console), settings.host, settings.port, name=SERVICE))
    assembly.health.add_check("index_rebuilt", lambda: tailer.ready)
    assembly.on_close(functools.partial(producer.close, assembly.shutdown_timeout))
    assembly.on_close(index.close)
    assembly.on_close(reader.close)
    return console


def assemble(assembly: Assembly) -> None:
    """Declare the console from the environment (nothing connects until the assembly runs)."""
    build(assembly, load(ConsoleSettings), load(KafkaSettings), load(RegistrySettings))


DEFINITION = ServiceDefinition(SERVICE, assemble)
"""What ``ecombus run console`` runs (:func:`bus.assembly.run_service`)."""
