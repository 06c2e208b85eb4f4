"""A minimal service for crash tests: forwards every JSON event of one topic to another.

Run: ``python -m tests.integration.runtime.forwarder IN OUT GROUP [--eos] [--die-after N]``;
SIGTERM drains; ``--die-after N`` kills the process in the middle of handling the Nth event.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from bus.runtime import ConsumerLoop, Context, HandlerRegistry, LoopOptions
from bus.runtime.codec import JsonCodec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("group")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--eos", action="store_true")
    parser.add_argument("--die-after", type=int, default=0,
                        help="SIGKILL itself in the middle of handling the Nth event (a crash)")
    args = parser.parse_args()
    handled = [0]

    handlers = HandlerRegistry()

    @handlers.handler(args.source)
    def forward(event: Any, ctx: Context) -> None:
        handled[0] += 1
        if handled[0] == args.die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.emit(args.target, {"seq": event["seq"], "by": "forwarder"}, key=ctx.key)

    options = LoopOptions(group_id=args.group, batch_size=200, exactly_once=args.eos)
    # A killed member holds its partitions until its session times out: keep that short here.
    loop = ConsumerLoop("forwarder", handlers, {"bootstrap.servers": args.bootstrap}, JsonCodec(),
                        options, consumer_overrides={"session.timeout.ms": 6000})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("forwarder running", flush=True)
    loop.run(stop)
    print("forwarder stopped", flush=True)


if __name__ == "__main__":
    main()
