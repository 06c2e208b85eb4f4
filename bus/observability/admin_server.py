"""The admin HTTP server every service runs: ``/metrics``, ``/healthz`` and ``/readyz``.

A stdlib :class:`~http.server.ThreadingHTTPServer` in a daemon thread: small, no dependency, and
independent of the service's own event loop, so a stuck loop still answers ``/healthz`` (with a
503) instead of timing out. Nothing touches the network until :meth:`AdminServer.start`.

Ports (README.md, "Operating it"): order-capture 9101, inventory-sync 9102,
crm-updater 9103, shipping-tracker 9104, router 9105, monitor 9106, registry 9107, console 9108; the
``ECOMBUS_ADMIN_PORT`` environment variable overrides the port and ``ECOMBUS_ADMIN_HOST`` the
interface (default ``0.0.0.0`` so Prometheus and kubelet probes reach it in a pod).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from bus.errors import ConfigError
from bus.observability.health import Health, Status

log = logging.getLogger(__name__)

DEFAULT_ADMIN_PORTS: dict[str, int] = {
    "order-capture": 9101,
    "inventory-sync": 9102,
    "crm-updater": 9103,
    "shipping-tracker": 9104,
    "router": 9105,
    "monitor": 9106,
    "registry": 9107,
    "console": 9108,
}
DEFAULT_ADMIN_HOST = "0.0.0.0"
PORT_ENV = "ECOMBUS_ADMIN_PORT"
HOST_ENV = "ECOMBUS_ADMIN_HOST"


def admin_address(service: str, environ: dict[str, str] | None = None) -> tuple[str, int]:
    """The (host, port) the admin server of ``service`` binds, after environment overrides.

    Raises:
        ConfigError: ``ECOMBUS_ADMIN_PORT`` is not a port number, or the service has no default
            and no override.
    """
    env = os.environ if environ is None else environ
    host = env.get(HOST_ENV, DEFAULT_ADMIN_HOST)
    raw = env.get(PORT_ENV)
    if raw is None:
        if service not in DEFAULT_ADMIN_PORTS:
            raise ConfigError(f"{PORT_ENV}: no default admin port for service {service!r}; set it")
        return host, DEFAULT_ADMIN_PORTS[service]
    try:
        port = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{PORT_ENV}: expected a port number, got {raw!r}") from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"{PORT_ENV}: expected 0-65535, got {port}")
    return host, port


class AdminServer:
    """Serves the metrics of ``registry`` and the status of ``health`` over HTTP.

    Args:
        registry: the service's metrics registry, exposed as Prometheus text format 0.0.4, or
            OpenMetrics when the scraper's ``Accept`` header asks for it (as prometheus_client's
            own server negotiates).
        health: liveness and readiness; ``/healthz`` and ``/readyz`` answer 200 or 503 + JSON.
        host: interface to bind.
        port: TCP port; 0 picks a free one, readable from :attr:`port` after :meth:`start`.
    """

    def __init__(
        self, registry: CollectorRegistry, health: Health, host: str = DEFAULT_ADMIN_HOST, port: int = 0
    ) -> None:
        self.registry = registry
        self.health = health
        self.host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> AdminServer:
        """Bind and serve in a daemon thread. Idempotent.

        Raises:
            OSError: the port is taken (the message names it).
        """
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"admin": self})
        try:
            self._server = ThreadingHTTPServer((self.host, self._port), handler)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot bind the admin server on {self.host}:{self._port}: "
                          f"{exc.strerror} (set {PORT_ENV})") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"admin-server:{self.port}", daemon=True
        )
        self._thread.start()
        log.info("admin server listening on %s (/metrics, /healthz, /readyz)", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> AdminServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    admin: AdminServer
    server_version = "ecombus-admin"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encode, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, content_type, encode(self.admin.registry))
        elif path == "/healthz":
            self._send_status(self.admin.health.liveness())
        elif path == "/readyz":
            self._send_status(self.admin.health.readiness())
        else:
            self._send_json(404, {"error": "not found", "endpoints": ["/metrics", "/healthz", "/readyz"]})

    def _send_status(self, status: Status) -> None:
        body: dict[str, Any] = {"status": "ok" if status.ok else "unavailable"}
        if status.reasons:
            body["failing"] = status.reasons
        self._send_json(200 if status.ok else 503, body)

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, "application/json", json.dumps(body, ensure_ascii=False).encode())

    def _send(self, code: int, content_type: str, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds would drown the service's own logs."""
