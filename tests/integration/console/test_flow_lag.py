"""The flow page's lag sampler on a real broker: a group's lag in messages and seconds as the
monitor measures it, its consumption rate and time to drain, and the page and chart data showing it."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from services.console.context import Console
from services.console.lag_history import LAG_HISTORY, LagHistory
from services.console.settings import ConsoleSettings
from tests.unit.console.fakes import ACCOUNTS, VIEWER_TOKEN, signed_in


def test_the_sampler_measures_a_group_and_the_page_shows_its_time_to_drain(
        kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic("lagging", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    written = int(time.time() * 1000) - 60_000
    for n in range(30):
        producer.produce(topic, key=f"k{n}".encode(), value=b"{}", timestamp=written + n)
    assert producer.flush(30) == 0
    del producer
    group = f"ecombus.test-flow-{uuid.uuid4().hex[:8]}"
    committer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group,
                          "enable.auto.commit": False})

    def commit(offset: int) -> None:
        for _ in range(40):  # a new group's coordinator may move or still load on a busy broker
            try:
                committer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
                return
            except KafkaException as exc:
                moving = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                          KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
                if exc.args[0].code() not in moving:
                    raise
                time.sleep(0.5)
        raise AssertionError("the group's coordinator never took the commit")

    history = LagHistory.for_cluster({"bootstrap.servers": kafka_bootstrap}, interval_seconds=1.0)
    try:
        commit(5)
        first = history.sample()
        assert first is not None and first.groups[group].lag == 25
        age = first.groups[group].lag_seconds
        assert age is not None and 55 < age < 600, "the oldest unconsumed message is a minute old"
        time.sleep(1.0)
        commit(15)
        assert history.sample() is not None
    finally:
        committer.close()
    [found] = [d for d in history.drains() if d.group == group]
    assert found.lag == 15 and found.trend == "draining"
    first_at, last_at = (s.at for s in history.samples())
    assert found.rate == pytest.approx(10 / (last_at - first_at)), "ten messages between the two samples"
    assert found.seconds == 15 / found.rate
    console = Console(ConsoleSettings(tokens=ACCOUNTS), client={}, decoder=None)
    console.extras[LAG_HISTORY] = history
    viewer = signed_in(VIEWER_TOKEN, console)
    assert f'data-group="{group}"' in viewer.get("/flow").text
    chart = viewer.get("/flow/lag.json").json()
    assert chart["lag"][chart["groups"].index(group)] == [25, 15]
    console.extras.clear()
    del history
    gc.collect()  # the sampler's admin client goes now, not after the broker (it would log refusals)
