"""What runs on Kubernetes, declared once: one :class:`Component` per deployable process.

Every manifest under ``deploy/k8s/`` is generated from :data:`COMPONENTS` (``python -m
bus.tools.deploy``), so a port, a Secret key or a scaling bound is changed here and nowhere else.

Scaling follows each service's delivery design, not a uniform rule:

* :class:`LagScaling`: a KEDA ``ScaledObject`` on the consumer group's lag, for services whose
  partitions are independent (idempotent side effects keyed by ``event_id``, shared dedupe).
* :class:`CpuScaling`: an ``autoscaling/v2`` HorizontalPodAutoscaler, for HTTP-only services
  (no consumer group, hence no lag to scale on).
* :class:`Fixed`: a fixed replica count. ``single_owner`` components (state rebuilt from a
  changelog under a fenced transactional.id, or kept in a local spool) must run exactly one
  replica: a second one would fence the first, and the two would take turns forever. They roll
  out with the ``Recreate`` strategy: the old pod drains and commits before the new one starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.errors import ConfigError

IMAGE = "ecombus"
"""Image name in the base; overlays set the registry and tag with kustomize ``images:``."""

UID = 10001
"""The image's non-root user (``deploy/Dockerfile``)."""

CONFIG_MAP = "ecombus-config"
KAFKA_SECRET = "ecombus-kafka"
REGISTRY_SECRET = "ecombus-schema-registry"

SHARED_SECRET_KEYS: dict[str, tuple[str, ...]] = {
    KAFKA_SECRET: ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"),
    REGISTRY_SECRET: ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",),
}
"""Secrets every service reads (each key optional: a PLAINTEXT cluster needs none)."""

SHARED_CONFIG: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "ecombus-kafka-bootstrap:9092",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "SCHEMA_REGISTRY_URL": "http://schema-registry:8081",
    "ECOMBUS_ADMIN_HOST": "0.0.0.0",
    "ECOMBUS_LOG_LEVEL": "INFO",
}
"""The ``ecombus-config`` ConfigMap: 12-factor settings shared by every component."""

SHUTDOWN_DRAIN_SECONDS = 30
"""The runtime's ``ECOMBUS_SHUTDOWN_TIMEOUT_SECONDS`` default, set explicitly on every pod."""

TERMINATION_GRACE_SECONDS = 90
"""Above the drain (30 s) plus the producer flush (up to 30 s) plus the preStop pause."""

PRE_STOP_SECONDS = 5
"""HTTP pods keep serving this long after SIGTERM is scheduled, while endpoints are removed."""


@dataclass(frozen=True)
class Fixed:
    """A fixed number of replicas."""

    replicas: int = 1


@dataclass(frozen=True)
class CpuScaling:
    """An HPA on CPU utilisation between ``min_replicas`` and ``max_replicas``."""

    min_replicas: int
    max_replicas: int
    cpu_utilization: int = 70


@dataclass(frozen=True)
class LagScaling:
    """A KEDA ScaledObject with one Kafka trigger per consumed topic.

    Attributes:
        lag_threshold: target lag per replica (KEDA ``lagThreshold``).
        activation_lag: lag below which the scaler stays inactive (``activationLagThreshold``).
    """

    min_replicas: int
    max_replicas: int
    lag_threshold: int = 200
    activation_lag: int = 20


@dataclass(frozen=True)
class Resources:
    """Container requests and memory limit (no CPU limit: throttling stalls the poll loop)."""

    cpu: str = "100m"
    memory: str = "256Mi"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class Component:
    """One deployable process of the ``ecombus`` image.

    Attributes:
        name: the service name (``ecombus run <name>``) and the Deployment's name.
        admin_port: where ``/metrics``, ``/healthz`` and ``/readyz`` are served.
        args: the container arguments after the ``ecombus`` entrypoint.
        http_port: an inbound HTTP port (webhooks, routes, the registry API); gets a Service.
        consumes: topics read by the consumer group ``ecombus.<name>`` (KEDA triggers).
        scaling: how many replicas run.
        single_owner: must never run twice at once (see the module docstring).
        secret_keys: environment variables read from the Secret ``<name>-secrets``.
        env: fixed environment of this component.
        data_dir: a PersistentVolumeClaim ``<name>-data`` mounted here (durable local state).
        optional: rendered as a kustomize Component that overlays opt into.
        note: why it scales the way it does (the ``ecombus.io/scaling`` annotation).
    """

    name: str
    admin_port: int
    args: tuple[str, ...] = ()
    http_port: int | None = None
    consumes: tuple[str, ...] = ()
    scaling: Fixed | CpuScaling | LagScaling = Fixed()
    single_owner: bool = False
    secret_keys: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    data_dir: str | None = None
    resources: Resources = Resources()
    optional: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.scaling, LagScaling) and not self.consumes:
            raise ConfigError(f"{self.name}: lag scaling needs the topics it consumes")
        if self.single_owner and self.scaling != Fixed(1):
            raise ConfigError(f"{self.name}: a single owner runs exactly one replica")

    @property
    def command_args(self) -> tuple[str, ...]:
        """``args``, or ``run <name>`` for a service."""
        return self.args or ("run", self.name)

    @property
    def group(self) -> str:
        """The consumer group (``ecombus.<name>``, as the runtime names it)."""
        return f"ecombus.{self.name}"

    @property
    def secret(self) -> str:
        return f"{self.name}-secrets"


COMPONENTS: tuple[Component, ...] = (
    Component(
        "order-capture", admin_port=9101, http_port=8080,
        scaling=CpuScaling(min_replicas=2, max_replicas=6),
        secret_keys=("SHOPIFY_WEBHOOK_SECRET", "WOOCOMMERCE_WEBHOOK_SECRET", "BIGCOMMERCE_WEBHOOK_SECRET",
                     "ECOMBUS_ORDER_CAPTURE_SHOPS", "ECOMBUS_ORDER_CAPTURE_BIGCOMMERCE_API_TOKEN",
                     "ECOMBUS_ORDER_CAPTURE_SHOPIFY_API_TOKEN"),
        note="webhook edge (HPA on CPU) and the exactly-once intake stage: replicas share the group "
             "ecombus.order-capture.intake, one owner per partition",
    ),
    Component(
        "inventory-sync", admin_port=9102, single_owner=True,
        consumes=("inventory.levels.v1", "orders.placed.v1", "orders.cancellations.v1", "orders.refunds.v1",
                  "orders.returns.v1"),
        secret_keys=("ECOMBUS_INVENTORY_STOREFRONT_TOKEN",),
        resources=Resources(memory="384Mi", memory_limit="768Mi"),
        note="stock per SKU and after-sale ledgers per order rebuilt from inventory-sync.stock.changelog and "
             "inventory-sync.orders.changelog under a fenced transactional.id",
    ),
    Component(
        "crm-updater", admin_port=9103,
        consumes=("orders.placed.v1", "customers.profiles.v1", "orders.refunds.v1",
                  "orders.cancellations.v1"),
        single_owner=True, secret_keys=("ECOMBUS_CRM_API_TOKEN",),
        resources=Resources(memory="384Mi", memory_limit="768Mi"),
        note="customers rebuilt from crm-updater.customers.changelog under a fenced transactional.id",
    ),
    Component(
        "shipping-tracker", admin_port=9104, http_port=8082, consumes=("shipments.tracking.v1",),
        scaling=LagScaling(min_replicas=2, max_replicas=6),
        secret_keys=("EASYPOST_WEBHOOK_SECRET", "AFTERSHIP_WEBHOOK_SECRET",
                     "ECOMBUS_SHIPPING_TRACKER_STOREFRONT_API_TOKEN"),
        note="carrier webhooks to intake.carriers.v1, an exactly-once intake stage, storefront updates "
             "idempotent by event_id: KEDA on lag",
    ),
    Component(
        "router", admin_port=9105, http_port=8084, single_owner=True,
        data_dir="/var/lib/ecombus",
        env={"ECOMBUS_ROUTER_STATE_DIR": "/var/lib/ecombus/router",
             "ERP_STOCK_DIR": "/var/lib/ecombus/erp/stock",
             "ERP_ORDERS_DIR": "/var/lib/ecombus/erp/orders"},
        resources=Resources(memory="384Mi", memory_limit="768Mi"),
        note="durable batch spool and ERP file drops on a volume: one owner",
    ),
    Component(
        "monitor", admin_port=9106,
        note="measures every group's lag from outside; one is enough",
    ),
    Component(
        "console", admin_port=9108, http_port=8088,
        secret_keys=("ECOMBUS_CONSOLE_TOKENS", "ECOMBUS_CONSOLE_SESSION_SECRET"),
        env={"ECOMBUS_CONSOLE_HOST": "0.0.0.0", "ECOMBUS_CONSOLE_SECURE_COOKIES": "true"},
        resources=Resources(memory="512Mi", memory_limit="1Gi"),
        note="web console: its journey index is rebuilt from the topics at start, so a replica needs "
             "no volume; one is enough (two need one ECOMBUS_CONSOLE_SESSION_SECRET)",
    ),
    Component(
        "schema-registry", admin_port=8081, http_port=8081, optional=True,
        args=("registry", "serve", "--host", "0.0.0.0", "--port", "8081"),
        scaling=Fixed(replicas=2),
        note="replicas share the _schemas topic and agree on every id",
    ),
)
"""Every deployable component; the services' admin ports match ``bus.observability.admin_server``."""

STRIMZI_CLUSTER = "ecombus"
"""The ``strimzi.io/cluster`` label of the KafkaTopics; overlays patch it to their cluster's name."""

REPLICATION_FACTOR = 3
"""KafkaTopic ``replicas`` where topics.yaml leaves it to the cluster (``topics apply``: min(3, brokers))."""

REGISTRY_TOPIC = "_schemas"
"""The embedded registry's storage topic (one partition, compacted), created with the registry."""
