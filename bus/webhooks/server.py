"""An ASGI app served by uvicorn in a background thread: services, simulators and tests alike.

The socket is bound before the thread starts, so the port is known at once (port 0 picks a free
one) and a taken port fails in :meth:`HttpServer.start` with a message naming it. uvicorn's own
logging setup is skipped (``log_config=None``): its records go through the process' JSON logs.

In a service the server is a part of its :class:`~bus.assembly.Assembly`: :meth:`HttpServer.run`
serves until the stop event is set, and :class:`Edge` first loads what answering needs (a dedupe
store, the writer schemas) so the port opens only once requests can be answered::

    edge = Edge(HttpServer(app, settings.host, settings.port, name=SERVICE),
                prepare=[producer.start_polling, processed.start])
    assembly.add("webhooks", edge)
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from bus.errors import SetupError

log = logging.getLogger("ecombus.webhooks")


class HttpServer:
    """Serve ``app`` on ``host:port`` until :meth:`stop`.

    Args:
        app: an ASGI application (Starlette, FastAPI).
        host: interface to bind (``0.0.0.0`` in a pod, ``127.0.0.1`` in tests).
        port: TCP port; 0 picks a free one.
        name: for thread names and error messages.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "http") -> None:
        self.app, self.host, self.name = app, host, name
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1] if self._socket else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> HttpServer:
        """Bind, serve in a daemon thread and return once the app's startup finished.

        Raises:
            SetupError: the port is taken or the app did not start in time.
        """
        # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and accepted connections inherit it. Without it, an answer written as headers then
        # body waits for the client's delayed ACK (Nagle): 40 ms on every JSON answer.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError as exc:
            sock.close()
            raise SetupError(f"{self.name}: cannot listen on {self.host}:{self._port}: "
                             f"{exc.strerror}") from exc
        sock.listen(2048)
        self._socket = sock
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=10, backlog=2048)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"{self.name}:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SetupError(f"{self.name}: the HTTP server did not start on {self.url}")
            time.sleep(0.01)
        return self

    @property
    def started(self) -> bool:
        return bool(self._server and self._server.started and not self._server.should_exit)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish in-flight requests, stop serving and release the port. Idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set, then answer in-flight requests and release the port.

        This is the server as a part of a service (:class:`bus.assembly.Part`).

        Raises:
            SetupError: the port is taken, the app did not start, or the server stopped serving
                by itself before ``stop`` was set (the service then stops rather than run deaf).
        """
        self.start()
        url = self.url  # (uvicorn closes the socket when it ends by itself)
        log.info("%s listening on %s", self.name, url)
        try:
            while not stop.wait(0.5):
                if self._thread is None or not self._thread.is_alive():
                    raise SetupError(f"{self.name}: the HTTP server on {url} stopped serving")
        finally:
            self.stop()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Edge:
    """An HTTP edge as a part of a service: prepare, then serve until stop.

    :meth:`run` calls ``prepare`` in order, sets ``prepared``, waits for every event of ``after``
    and only then opens the port (:meth:`HttpServer.run`), so no request arrives before the
    service can answer it.

    Attributes:
        server: serves the app.
        prepare: called in order before the port opens (start a producer's polling, load a
            dedupe store, register the writer schemas); one that raises ends the part, and so
            the service, before it listens.
        after: set by other parts once what the edge relies on is loaded (e.g. the consumer
            side); waited for before the port opens, without end but for ``stop``.
        prepared: set once ``prepare`` ran, before the port opens: other parts that need what it
            loaded wait on it.
    """

    server: HttpServer
    prepare: Sequence[Callable[[], object]] = ()
    after: Sequence[threading.Event] = ()
    prepared: threading.Event = field(default_factory=threading.Event)

    def run(self, stop: threading.Event) -> None:
        """Prepare, wait for ``after``, serve until ``stop`` is set and drain (see the class).

        Raises:
            SetupError: as :meth:`HttpServer.run`; or whatever a ``prepare`` step raised.
        """
        for step in self.prepare:
            if stop.is_set():
                return
            step()
        self.prepared.set()
        for event in self.after:
            while not event.wait(0.1):
                if stop.is_set():
                    return
        if stop.is_set():
            return
        self.server.run(stop)
