"""The chaos run's balancer: each connection to the next replica that is up, none to a dead one."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bus.tools.local.broker import free_port
from simulators.chaos.balancer import Balancer


class _Named(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(64)
        self.request.sendall(self.server.name.encode() + b":" + data)  # type: ignore[attr-defined]


@contextmanager
def _replica(name: str) -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Named)
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _ask(port: int) -> bytes:
    """What the replica behind the balancer answers (empty: the connection was closed or reset)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(b"hi")
            sock.shutdown(socket.SHUT_WR)
            return b"".join(iter(lambda: sock.recv(64), b""))
        except OSError:  # reset, or closed before the request was finished
            return b""


def test_connections_take_turns_and_skip_replicas_that_are_down_or_refuse() -> None:
    refusing = free_port()  # nothing listens there: a replica still starting
    with _replica("one") as one, _replica("two") as two:
        up = [one, two, refusing]
        balancer = Balancer("svc", free_port(), lambda: list(up)).start()
        try:
            answers = {_ask(balancer.port) for _ in range(6)}
            assert answers == {b"one:hi", b"two:hi"}
            up.remove(two)  # killed: its endpoint is gone
            assert {_ask(balancer.port) for _ in range(4)} == {b"one:hi"}
            up.clear()
            assert _ask(balancer.port) == b"", "no replica: the connection is closed at once"
            assert balancer.refused == 1
        finally:
            balancer.stop()
