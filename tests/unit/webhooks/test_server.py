"""HttpServer.run and Edge as parts of an assembly: prepare first, serve until stop, drain in-flight."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from bus.errors import SetupError
from bus.webhooks.server import Edge, HttpServer


def _app(release: threading.Event | None = None) -> FastAPI:
    app = FastAPI()

    @app.post("/slow")
    async def slow() -> dict[str, str]:
        while release is not None and not release.is_set():
            await asyncio.sleep(0.01)
        return {"status": "answered"}

    return app


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_run_serves_until_stop_and_answers_the_request_in_flight() -> None:
    release, stop = threading.Event(), threading.Event()
    server = HttpServer(_app(release), name="edge")
    runner = threading.Thread(target=server.run, args=(stop,))
    runner.start()
    _until(lambda: server.started)
    url = server.url
    answers: list[httpx.Response] = []
    client = threading.Thread(target=lambda: answers.append(httpx.post(f"{url}/slow", timeout=10)))
    client.start()
    time.sleep(0.2)  # the request is in flight
    stop.set()
    time.sleep(0.2)
    release.set()
    client.join(10)
    runner.join(20)
    assert not runner.is_alive()
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "answered"})]
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{url}/slow", timeout=2)


def test_run_raises_when_the_server_stops_serving_by_itself() -> None:
    server = HttpServer(_app(), name="edge")
    failures: list[BaseException] = []

    def run() -> None:
        try:
            server.run(threading.Event())
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    _until(lambda: server.started)
    assert server._server is not None
    server._server.should_exit = True  # uvicorn ends without the part being told to stop
    runner.join(20)
    assert not runner.is_alive()
    assert len(failures) == 1 and isinstance(failures[0], SetupError)
    assert "stopped serving" in str(failures[0])


def test_edge_prepares_in_order_and_waits_for_other_parts_before_the_port_opens() -> None:
    events: list[str] = []
    server = HttpServer(_app(), name="edge")
    consumer_loaded, stop = threading.Event(), threading.Event()
    edge = Edge(server, prepare=[lambda: events.append(f"store loaded, serving={server.started}"),
                                 lambda: events.append("schemas registered")],
                after=[consumer_loaded])
    runner = threading.Thread(target=edge.run, args=(stop,))
    runner.start()
    try:
        assert edge.prepared.wait(10)
        time.sleep(0.3)
        assert not server.started, "the port stays closed until the consumer side is loaded"
        consumer_loaded.set()
        _until(lambda: server.started)
        assert httpx.post(f"{server.url}/slow", timeout=5).status_code == 200
    finally:
        stop.set()
        runner.join(20)
    assert events == ["store loaded, serving=False", "schemas registered"]
    assert not runner.is_alive() and not server.started


def test_a_failing_prepare_step_ends_the_edge_before_it_listens() -> None:
    server = HttpServer(_app(), name="edge")

    def broken() -> None:
        raise SetupError("the dedupe store did not load")

    edge = Edge(server, prepare=[broken])
    with pytest.raises(SetupError, match="dedupe store"):
        edge.run(threading.Event())
    assert not edge.prepared.is_set() and server._socket is None


def test_stop_while_waiting_for_other_parts_returns_without_listening() -> None:
    server = HttpServer(_app(), name="edge")
    stop = threading.Event()
    edge = Edge(server, after=[threading.Event()])
    runner = threading.Thread(target=edge.run, args=(stop,))
    runner.start()
    assert edge.prepared.wait(10)
    stop.set()
    runner.join(5)
    assert not runner.is_alive() and server._socket is None


def test_the_listening_socket_is_tcp_with_nodelay_so_answers_are_not_held_back() -> None:
    """asyncio turns TCP_NODELAY on for accepted sockets only when their ``proto`` says TCP (they
    inherit it, and TCP_NODELAY itself, from the listening socket); without it a JSON answer,
    written as headers then body, waited 40 ms for the client's delayed ACK (Nagle), which capped
    a keep-alive connection at 25 answers a second."""
    server = HttpServer(_app(), name="nodelay").start()
    try:
        listening = server._socket
        assert listening is not None and listening.proto == socket.IPPROTO_TCP
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert httpx.post(f"{server.url}/slow", timeout=10).json() == {"status": "answered"}
    finally:
        server.stop()
