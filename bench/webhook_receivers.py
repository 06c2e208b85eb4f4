"""The webhook benchmark's reference receivers, each run in its own process until SIGTERM.

``python -m bench.webhook_receivers empty-200 PORT``
    answers every POST on ``/webhooks/shopify`` with 200 at once: a FastAPI app on uvicorn, served
    by the services' own :class:`~bus.webhooks.HttpServer` (the HTTP ceiling of this machine).

``python -m bench.webhook_receivers hand-written PORT BOOTSTRAP TOPIC SECRET``
    the least a safe receiver does, written by hand on Starlette and confluent-kafka: verify the
    Shopify HMAC over the raw body, produce the body as it came (key: shop domain and event id) with
    acks=all and idempotence, answer 200 once the delivery report arrived (401 on a bad signature,
    503 when the broker did not acknowledge). Its producer has the service's settings (linger 2 ms,
    zstd) and it runs on the same :class:`~bus.webhooks.HttpServer`, so what differs from
    order-capture is the work per request.

Both answer ``GET /ready`` once they serve.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import signal
import sys
import threading
from typing import Any

from confluent_kafka import KafkaError, Producer
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bus.webhooks import HttpServer

PATH = "/webhooks/shopify"


async def _ready(_: Request) -> Response:
    return Response("ok")


def empty_app() -> Any:
    app = FastAPI()

    @app.post(PATH)
    async def empty() -> Response:
        return Response(status_code=200)

    app.add_api_route("/ready", _ready)
    return app


def hand_written_app(bootstrap: str, topic: str, secret: str, stop: threading.Event) -> Any:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 2, "compression.type": "zstd", "message.timeout.ms": 3000})
    key = secret.encode()

    def poll() -> None:
        while not stop.is_set():
            producer.poll(0.1)
        producer.flush(10)

    threading.Thread(target=poll, name="delivery-reports", daemon=True).start()

    async def receive(request: Request) -> Response:
        body = await request.body()
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("x-shopify-hmac-sha256", "")):
            return Response(status_code=401)
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[KafkaError | None] = loop.create_future()

        def settle(err: KafkaError | None) -> None:
            if not acked.done():  # (not when the wait timed out)
                acked.set_result(err)

        def delivered(err: KafkaError | None, _: Any) -> None:
            loop.call_soon_threadsafe(settle, err)

        record_key = f"{request.headers.get('x-shopify-shop-domain', '')}:" \
                     f"{request.headers.get('x-shopify-event-id', '')}"
        try:
            producer.produce(topic, body, record_key, on_delivery=delivered)
            error = await asyncio.wait_for(acked, 4)
        except (BufferError, TimeoutError):
            return Response(status_code=503)
        return Response(status_code=503 if error is not None else 200)

    return Starlette(routes=[Route(PATH, receive, methods=["POST"]), Route("/ready", _ready)])


def main(argv: list[str]) -> None:
    arm, port = argv[0], int(argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = empty_app() if arm == "empty-200" else hand_written_app(argv[2], argv[3], argv[4], stop)
    server = HttpServer(app, "127.0.0.1", port, name=f"bench-{arm}").start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
