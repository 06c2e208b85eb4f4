"""Topics as code: load ``deploy/topics.yaml``, create what is missing, report drift.

:func:`ensure_topics` is the one way ecombus creates topics (``ecombus topics apply``, the
services' own changelogs, cursors and dedupe sets, the registry's log, the self-test): missing
topics are created with their declared partitions and config; one that exists, or that another
process creates at the same moment, is left as it is.

:func:`apply` is idempotent: a topic that exists is never altered (partition counts and configs
that differ from the file are *reported* as drift, because increasing partitions reshuffles keys
and config changes deserve a human look).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.errors import ConfigError
from bus.settings import ClientConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOPICS_FILE = REPO_ROOT / "deploy" / "topics.yaml"
log = logging.getLogger(__name__)


class TopicSpec(BaseModel):
    """One topic as declared in the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9._\-]+$")
    key: str = ""
    doc: str = ""
    partitions: int = Field(default=0, ge=0)
    replication_factor: int | None = Field(default=None, ge=1)
    config: dict[str, str] = Field(default_factory=dict)


class TopicsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    class Defaults(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        partitions: int = Field(default=6, ge=1)
        config: dict[str, str] = Field(default_factory=dict)

    defaults: Defaults = Defaults()
    topics: list[TopicSpec]


def load_topics(path: Path = DEFAULT_TOPICS_FILE) -> list[TopicSpec]:
    """Read the topics file, merging each topic with the defaults.

    Raises:
        ConfigError: the file is missing or invalid; the message names the topic and field.
    """
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = TopicsFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read topics file {path}: {exc}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"invalid topics file {path}: {exc}") from exc
    specs = []
    for topic in parsed.topics:
        specs.append(topic.model_copy(update={
            "partitions": topic.partitions or parsed.defaults.partitions,
            "config": {**parsed.defaults.config, **topic.config},
        }))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"topics file {path} declares {', '.join(duplicates)} more than once")
    return specs


@dataclass
class ApplyReport:
    """What :func:`apply` did: created topics, topics already fine, and drift lines."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


def replication_factor_for(admin: AdminClient, requested: int | None, timeout: float) -> int:
    """The replication factor to create topics with: requested, else min(3, broker count)."""
    env = os.environ.get("ECOMBUS_TOPIC_REPLICATION_FACTOR")
    if requested is None and env:
        try:
            requested = int(env)
        except ValueError as exc:
            raise ConfigError(f"ECOMBUS_TOPIC_REPLICATION_FACTOR: not a number: {env!r}") from exc
    brokers = len(admin.list_topics(timeout=timeout).brokers)
    return requested or min(3, max(1, brokers))


def ensure_topics(
    client: AdminClient | ClientConfig,
    specs: Sequence[TopicSpec],
    replication_factor: int | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; existing ones are never altered.

    Each topic gets its spec's partitions and config and its spec's replication factor, else
    ``replication_factor``, else :func:`replication_factor_for`'s (min(3, brokers)). On a
    replicated cluster a declared ``min.insync.replicas=1`` is raised to 2. A topic another process
    creates meanwhile counts as existing: "already exists" is told by its error code
    (``TOPIC_ALREADY_EXISTS``), so replicas starting together all succeed.

    Args:
        client: an admin client, or the client settings to make one from.
        specs: the topics wanted (``partitions`` at least 1).
        replication_factor: for specs that name none.
        timeout: seconds for each admin request.

    Returns:
        The names this call created, in the order of ``specs``.

    Raises:
        KafkaException: the cluster did not answer, or refused a topic for another reason.
    """
    admin = AdminClient(dict(client)) if isinstance(client, dict) else client
    existing = admin.list_topics(timeout=timeout).topics
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    rf = replication_factor_for(admin, replication_factor, timeout)
    new = []
    for spec in missing:
        config = dict(spec.config)
        replicas = spec.replication_factor or rf
        if replicas >= 3 and config.get("min.insync.replicas") == "1":
            config["min.insync.replicas"] = "2"
        new.append(NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=replicas,
                            config=config))
    futures = admin.create_topics(new, request_timeout=timeout)
    created = []
    for spec in missing:
        try:
            futures[spec.name].result(timeout=timeout)
        except KafkaException as exc:
            if not _already_exists(exc):
                raise
            continue  # another process created it first
        log.info("created topic %s", spec.name)
        created.append(spec.name)
    return created


def _already_exists(exc: KafkaException) -> bool:
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS


def apply(
    admin: AdminClient,
    specs: list[TopicSpec],
    replication_factor: int | None = None,
    timeout: float = 30.0,
) -> ApplyReport:
    """Create the missing topics (:func:`ensure_topics`) and report how existing ones differ from the file."""
    report = ApplyReport()
    report.created = ensure_topics(admin, specs, replication_factor, timeout)
    present = [s for s in specs if s.name not in report.created]
    if present:
        existing = admin.list_topics(timeout=timeout).topics
        resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in present]
        described = admin.describe_configs(resources, request_timeout=timeout)
        by_name = {r.name: f.result(timeout=timeout) for r, f in described.items()}
        for spec in present:
            lines = _drift(spec, len(existing[spec.name].partitions), by_name[spec.name])
            (report.drift.extend(lines) if lines else report.unchanged.append(spec.name))
    return report


def _drift(spec: TopicSpec, partitions: int, configs: dict[str, Any]) -> list[str]:
    lines = []
    if partitions != spec.partitions:
        lines.append(f"{spec.name}: partitions {partitions} in the cluster, {spec.partitions} in the file")
    for key, wanted in spec.config.items():
        actual = configs.get(key)
        value = getattr(actual, "value", None)
        if key == "min.insync.replicas":
            continue  # raised automatically on replicated clusters, see apply()
        if value != wanted:
            lines.append(f"{spec.name}: {key}={value} in the cluster, {wanted} in the file")
    return lines
