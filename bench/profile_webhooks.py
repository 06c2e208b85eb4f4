"""``python -m bench.profile_webhooks``: where order-capture's time goes under wrk's load.

Starts a broker and registry (:mod:`bench.cluster`), runs order-capture exactly as
:mod:`bench.bench_webhooks` does (:func:`~bench.bench_webhooks.order_capture_env`) but under
:mod:`bench.profiled` (cProfile in every Python thread), sends it wrk's load at full speed for
``BENCH_WEBHOOK_SECONDS``, stops it with SIGTERM and prints:

* per thread: seconds profiled and the share spent waiting (epoll, locks, librdkafka polls,
  sleeps), i.e. how busy each thread was;
* the top 10 functions by own time over every thread, waits left out: what the CPU did;
* the top 10 of ecombus' own functions (``bus/``, ``services/``) by cumulative time in the HTTP
  server's thread (the one that answers webhooks): which step of a request costs what.

cProfile times every Python call, so the service runs slower than unprofiled: the shares are
what matter, not the rates. Not one of ``python -m bench``'s benchmarks (its name does not start
with ``bench_``).
"""

from __future__ import annotations

import os
import pstats
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_webhooks import (
    ORDER_CAPTURE_ARGS,
    SECONDS,
    SECRET,
    SHOP,
    Deliveries,
    order_capture_env,
    receiver,
    split_parts,
)
from bench.cluster import bench_cluster, say
from bench.webhook_load import wrk_missing
from bus.tools.local.broker import free_port

WAITS = re.compile(r"<(built-in method|method) '?(\w+\.)*(poll|select|acquire|sleep|wait|accept|consume|"
                   r"flush|recv_into|read)'?")
"""Built-ins in which a thread waits (for the network, a lock, the broker) rather than computes."""

Key = tuple[str, int, str]


def is_wait(key: Key) -> bool:
    return key[0] == "~" and WAITS.match(key[2]) is not None


def where(key: Key) -> str:
    file, line, name = key
    if file == "~":
        return name
    for root in ("/site-packages/", "/lib/python3"):
        if root in file:
            file = file.split(root, 1)[1]
            break
    else:
        file = file.split("/wt-bench/")[-1].split("/main/")[-1]
    return f"{name} ({file}:{line})"


def table(rows: list[tuple[Key, Any]], total: float, column: int) -> None:
    """Rows of pstats entries (calls, ..., own, cumulative, ...); ``column`` 2 = own, 3 = cumulative."""
    for key, entry in rows:
        seconds = entry[column]
        print(f"  {seconds:8.2f}s {100 * seconds / total:5.1f}% {entry[1]:>9,} calls  {where(key)}")


def report(folder: Path, http_thread: str) -> None:
    """Per thread, how busy; for the HTTP thread (the busiest), its top 10 by own time and ecombus'
    functions by cumulative time."""
    files = sorted(folder.glob("*.pstats"))
    if not files:
        raise RuntimeError(f"no profile written in {folder}")
    print("threads (seconds profiled, share waiting):")
    http: dict[Key, Any] | None = None
    for file in files:
        entries: dict[Key, Any] = pstats.Stats(str(file)).stats  # type: ignore[attr-defined]
        own = sum(e[2] for e in entries.values())
        waiting = sum(e[2] for k, e in entries.items() if is_wait(k))
        name = file.stem.split("-", 1)[1]
        print(f"  {name:40} {own:8.1f}s {100 * waiting / own if own else 0:5.1f}% waiting")
        if name.startswith(http_thread):
            http = entries
    if http is None:
        raise RuntimeError(f"no profile of the HTTP thread {http_thread} in {folder}")
    busy = [(k, e) for k, e in http.items() if not is_wait(k)]
    total = sum(e[2] for _, e in busy)
    print(f"HTTP thread {http_thread} (answers every webhook): {total:.1f}s busy; "
          "top 10 by own time (share of the busy time):")
    table(sorted(busy, key=lambda item: item[1][2], reverse=True)[:10], total, 2)
    ours = [(k, e) for k, e in http.items() if "/bus/" in k[0] or "/services/" in k[0]]
    print("top 10 of ecombus' functions in that thread by cumulative time (share of the busy time):")
    table(sorted(ours, key=lambda item: item[1][3], reverse=True)[:10], total, 3)
    endpoint = max((e[3] for k, e in ours if k[0].endswith("bus/webhooks/endpoint.py")), default=0.0)
    print(f"  ecombus' endpoint: {100 * endpoint / total:.0f}% of the busy time; the rest is the HTTP "
          "stack (uvicorn with h11, FastAPI, asyncio, socket calls)")


PART = os.environ.get("BENCH_PROFILE_PART", "all")
"""What is profiled: ``all`` (one process, both parts), ``webhooks`` (the edge) or ``intake`` (the
stage); a single part is profiled in its own process while the other runs unprofiled beside it."""


def main() -> None:
    print(f"== order-capture profiled under wrk for {SECONDS:.0f}s ==", flush=True)
    print(f"  profiled: {PART}", flush=True)
    missing = wrk_missing()
    if missing:
        print(f"  not profiled: {missing}", flush=True)
        return
    folder = Path(tempfile.mkdtemp(prefix="ecombus-profile-webhooks-"))
    profiles = folder / "profiles"
    with bench_cluster(registry=True) as cluster:
        port, admin, orders = free_port(), free_port(), cluster.new_topic("orders")
        env = order_capture_env(cluster, port, admin, SECRET, SHOP, orders)
        command = [sys.executable, "-m", "bench.profiled", str(profiles), *ORDER_CAPTURE_ARGS]
        if PART == "all":
            with receiver("order-capture", command, port, f"http://127.0.0.1:{admin}/readyz", folder,
                          env) as server:
                Deliveries(folder).measure(server, int(2000 * SECONDS))
        else:  # the part profiled in one process, the other part unprofiled in another
            edge, stage = split_parts(env)
            profiled, other = (edge, stage) if PART == "webhooks" else (stage, edge)
            ready = f"http://127.0.0.1:{profiled['ECOMBUS_ADMIN_PORT']}/readyz"
            other_ready = f"http://127.0.0.1:{other['ECOMBUS_ADMIN_PORT']}/readyz"
            with receiver(f"order-capture ({PART}, profiled)", command, port, ready, folder, profiled), \
                    receiver("order-capture (the other part)", [sys.executable, *ORDER_CAPTURE_ARGS], port,
                             other_ready, folder, other) as server:
                Deliveries(folder).measure(server, int(2000 * SECONDS))
        say("order-capture stopped; reading its profiles")
    report(profiles, f"order-capture:{port}")
    print(f"  profiles kept in {profiles} (python -m pstats FILE)", flush=True)


if __name__ == "__main__":
    main()
