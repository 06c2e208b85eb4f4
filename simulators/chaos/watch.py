"""What the cluster says while it is broken: consumer groups' members and under-replicated
partitions, read by a child process.

The readings come from Kafka's admin API, which is asked every half second while brokers are
being killed and paused; librdkafka's admin client has been seen to abort the whole process on
an internal assertion when a broker went away under a request, after hanging for a while. So the
asking happens in a child (``python -m simulators.chaos.watch BOOTSTRAP``, one JSON line per
reading on its stdout), and :class:`ClusterWatch` in the runner keeps the latest reading and
starts the child again when it dies or stays silent for :data:`STALE_S` seconds.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

log = logging.getLogger("ecombus.chaos.watch")
EVERY_S = 0.5
TIMEOUT_S = 5.0
GIVE_UP = 5
"""Failed readings in a row after which the child exits (and is started again)."""
STALE_S = 20.0
"""A child that gave no reading of the groups for this long is killed and started again
(librdkafka's admin client has also been seen to hang, or fail every request, before it aborted)."""

Groups = dict[str, tuple[bool, list[tuple[str, int]]]]
"""Group → (stable, members as (client id, partitions assigned))."""


def memberships(admin: AdminClient, timeout: float = TIMEOUT_S, failed: list[str] | None = None) -> Groups:
    """Every ``ecombus.*`` consumer group: whether it is stable (not rebalancing), and its members.
    A group that could not be described is left out (whoever looks for it finds it not stable)
    and added to ``failed``.

    Raises:
        KafkaException: the groups could not be listed.
    """
    listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout + 5)
    ids = [g.group_id for g in listing.valid if g.group_id.startswith("ecombus.")]
    found: Groups = {}
    if not ids:
        return found
    futures = {i: admin.describe_consumer_groups([i], request_timeout=timeout)[i] for i in ids}
    for group_id, future in futures.items():  # one request per group: one failing hides no other
        try:
            group = future.result(timeout + 5)
        except (KafkaException, TimeoutError):
            if failed is not None:
                failed.append(group_id)
            continue
        found[group_id] = (group.state == ConsumerGroupState.STABLE,
                           [(m.client_id, len(m.assignment.topic_partitions)) for m in group.members])
    return found


def under_replicated(admin: AdminClient, timeout: float = TIMEOUT_S) -> int:
    """Partitions (internal topics included) with fewer in-sync replicas than replicas."""
    metadata = admin.list_topics(timeout=timeout)
    return sum(1 for topic in metadata.topics.values() for p in topic.partitions.values()
               if len(p.isrs) < len(p.replicas))


class ClusterWatch:
    """The latest readings of the child process (see the module docstring).

    Args:
        bootstrap: the cluster.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.restarts = 0
        self._lock = threading.Lock()
        self._groups: tuple[float, Groups] = (0.0, {})
        self._replication: tuple[float, int | None] = (0.0, None)
        self._known: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._child: subprocess.Popen[str] | None = None
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-watch", daemon=True)
        self._guard = threading.Thread(target=self._kill_when_stale, name="chaos-watch-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._guard.start()

    def stop(self) -> None:
        self._stop.set()
        if self._child is not None:
            self._child.terminate()
        self._thread.join(30)

    def groups(self) -> tuple[float, Groups]:
        """When the last reading of the groups began (epoch seconds; 0 before any), and what it found."""
        with self._lock:
            return self._groups

    def replication(self) -> tuple[float, int | None]:
        """When the last reading of the partitions began, and how many were under-replicated."""
        with self._lock:
            return self._replication

    def known(self, client_id: str) -> set[str]:
        """Every group the client id was ever seen a member of."""
        with self._lock:
            return set(self._known.get(client_id, set()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._child = subprocess.Popen([sys.executable, "-m", "simulators.chaos.watch", self.bootstrap],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert self._child.stdout is not None
            for line in self._child.stdout:
                try:
                    self._take(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:  # never the end of the watch
                    log.warning("a reading of the cluster watch could not be read: %s", exc)
            self._child.wait()
            if not self._stop.is_set():
                self.restarts += 1
                log.warning("the cluster watch exited (%s); starting it again", self._child.returncode)
                time.sleep(1)

    def _kill_when_stale(self) -> None:
        while not self._stop.wait(1.0):
            child = self._child
            if child is not None and time.monotonic() - self._last > STALE_S and child.poll() is None:
                log.warning("the cluster watch gave no reading for %.0f s; killing it", STALE_S)
                child.kill()
                self._last = time.monotonic()

    def _take(self, reading: dict[str, Any]) -> None:
        if reading.get("groups") is not None:
            self._last = time.monotonic()
        with self._lock:
            if reading.get("groups") is not None:
                at = float(reading["groups_at"])
                groups: Groups = {g: (stable, [(c, n) for c, n in members])
                                  for g, (stable, members) in reading["groups"].items()}
                self._groups = (at, groups)
                for group, (_stable, members) in groups.items():
                    for client, _partitions in members:
                        self._known.setdefault(client, set()).add(group)
            if reading.get("under_replicated") is not None:
                self._replication = (float(reading["under_replicated_at"]), int(reading["under_replicated"]))


def main(bootstrap: str) -> None:
    """Print a reading every :data:`EVERY_S` seconds until stdout closes. A reading that fails, or
    fails to describe a group, is taken again with a new admin client (an old one has been seen to
    fail every request after a broker went away, or every request about one group whose
    coordinator moved, for minutes: the run then saw that group never stable again); after
    :data:`GIVE_UP` failed readings in a row the process exits, to be started afresh."""
    admin, failures = _admin(bootstrap), 0
    while failures < GIVE_UP:
        reading: dict[str, Any] = {}
        undescribed: list[str] = []
        reading["groups_at"] = time.time()  # when this reading began
        try:
            reading["groups"] = memberships(admin, failed=undescribed)
        except (KafkaException, TimeoutError):
            reading["groups"] = None
        reading["under_replicated_at"] = time.time()
        try:
            reading["under_replicated"] = under_replicated(admin)
        except (KafkaException, TimeoutError):
            reading["under_replicated"] = None
        reading["undescribed"] = undescribed
        failures = failures + 1 if reading["groups"] is None else 0
        if reading["groups"] is None or undescribed:
            admin = _admin(bootstrap)
        try:
            print(json.dumps(reading), flush=True)
        except BrokenPipeError:
            return
        time.sleep(EVERY_S)


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "logger": log})  # type: ignore[dict-item]


if __name__ == "__main__":
    main(sys.argv[1])
