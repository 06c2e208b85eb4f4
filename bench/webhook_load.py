"""Load for the webhook benchmark: signed Shopify deliveries, written as raw HTTP requests, sent by wrk.

wrk (Debian's package, C and epoll) replays the requests with ``bench/wrk/deliveries.lua``: each of
its threads reads its own file of pre-built requests, so every request is a distinct delivery
(distinct order id and ``X-Shopify-Event-Id``, ``X-Shopify-Hmac-Sha256`` over the exact body) and no
signing happens while measuring. The script's ``done()`` prints one ``wrk-result`` line that
:func:`run_wrk` parses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bus.webhooks.signatures import SCHEMES
from simulators import fixture

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "deliveries.lua"
PATH = "/webhooks/shopify"


def wrk_missing() -> str | None:
    """Why wrk cannot run here, or None when it can."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (`make bench` installs it as root: apt-get install wrk)"
    return None


def signed_orders(first_id: int, count: int, run: str, shop: str,
                  secret: str) -> Iterator[tuple[bytes, dict[str, str]]]:
    """``count`` distinct Shopify orders/create deliveries (the fixture renumbered from ``first_id``),
    each with its headers: topic, shop domain, a distinct event id and the HMAC of the exact body."""
    template = json.loads(fixture("shopify_orders_create.json"))
    for i in range(count):
        order_id = first_id + i
        body = json.dumps({**template, "id": order_id, "name": f"#{order_id}"}, ensure_ascii=False).encode()
        yield body, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                     "X-Shopify-Shop-Domain": shop, "X-Shopify-Event-Id": f"{run}-{order_id}",
                     **SCHEMES["shopify"].sign(secret, body)}


def raw_request(body: bytes, headers: dict[str, str], host: str = "127.0.0.1") -> bytes:
    """The complete HTTP/1.1 request wrk sends (keep-alive, the body's exact length)."""
    lines = [f"POST {PATH} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_requests(prefix: Path, threads: int, deliveries: Iterator[tuple[bytes, dict[str, str]]]) -> int:
    """Deal the deliveries round-robin into ``<prefix>.0`` .. ``<prefix>.<threads-1>`` (the Lua
    script's format: a line with the byte count, then the request); returns how many."""
    written = 0
    with ExitStack() as stack:
        files = [stack.enter_context(open(f"{prefix}.{n}", "wb")) for n in range(threads)]
        for body, headers in deliveries:
            request = raw_request(body, headers)
            out = files[written % threads]
            out.write(b"%d\n" % len(request))
            out.write(request)
            written += 1
    return written


def remove_requests(prefix: Path, threads: int) -> None:
    for n in range(threads):
        Path(f"{prefix}.{n}").unlink(missing_ok=True)


@dataclass(frozen=True)
class WrkResult:
    """What wrk measured (latencies of every answered request, 2xx or not)."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    wraps: int
    statuses: str

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.ok / self.seconds

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        line = next((x for x in output.splitlines() if x.startswith("wrk-result ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no result line:\n{output[-3000:]}")
        fields = dict(item.split("=", 1) for item in line.split()[1:])
        number = {k: int(v) for k, v in fields.items() if k != "statuses"}
        return cls(requests=number["requests"], seconds=number["duration_us"] / 1e6,
                   p50_ms=number["p50_us"] / 1000, p90_ms=number["p90_us"] / 1000,
                   p99_ms=number["p99_us"] / 1000, max_ms=number["max_us"] / 1000,
                   non2xx=number["non2xx"],
                   socket_errors=sum(number[k] for k in ("connect", "read", "write", "timeout")),
                   wraps=number["wraps"], statuses=fields.get("statuses", ""))

    def summary(self) -> str:
        errors = f"{self.non2xx} non-2xx" + (f" ({self.statuses})" if self.statuses else "")
        return (f"{self.rate:,.0f} req/s (2xx), p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, "
                f"p99 {self.p99_ms:.1f} ms, max {self.max_ms:.0f} ms; {errors}, "
                f"{self.socket_errors} socket errors")


def run_wrk(url: str, prefix: Path, seconds: float, threads: int, connections: int,
            rate: float | None = None) -> WrkResult:
    """Run wrk against ``url`` for ``seconds`` with the requests of ``prefix`` (paced to ``rate``
    requests per second when given); its parsed result."""
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "5s", "-s", str(WRK_SCRIPT), url, "--", str(prefix), str(rate or 0), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 120,
                          env={**os.environ, "LC_ALL": "C"})
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr[-2000:]}{done.stdout[-2000:]}")
    return WrkResult.parse(done.stdout)
