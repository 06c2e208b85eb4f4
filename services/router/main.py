"""Entry point of the router: ``ecombus run router`` (or ``python -m services.router.main``).

Reads ``ECOMBUS_ROUTER_*`` (routes file, state folder, HTTP port), the runtime's ``ECOMBUS_*``,
``KAFKA_*`` and ``SCHEMA_REGISTRY_*`` settings; validates the routes file before connecting
anything (an invalid one exits with the error naming the route, the step and the field); serves
``/metrics``, ``/healthz`` and ``/readyz`` on :9105 and ``http_in`` routes on :8084; stops
cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from bus.runtime.service import RuntimeSettings, run_until_signalled
from bus.settings import KafkaSettings, RegistrySettings, load
from services.router.settings import RouterSettings
from services.router.wiring import SERVICE, build


def run() -> None:
    """Run the router until SIGTERM or SIGINT."""
    settings = load(RouterSettings)
    runtime = load(RuntimeSettings)
    run_until_signalled(SERVICE, settings.log_level,
                        lambda: build(settings, runtime, load(KafkaSettings), load(RegistrySettings)))


if __name__ == "__main__":
    run()
