"""Every environment variable the manifests set (ConfigMap, env, Secret keys) is one the code
reads: a typo would otherwise be ignored silently and the service would run on a default."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from pydantic_settings import BaseSettings

from bus.assembly import ServiceSettings
from bus.observability.admin_server import HOST_ENV, PORT_ENV
from bus.runtime.service import RuntimeSettings
from bus.settings import KafkaSettings, RegistrySettings
from bus.tools.cli.plugins import available_services
from services.registry.settings import RegistryServerSettings

Objects = dict[str, dict[str, dict[str, Any]]]
ROUTES_VARIABLES = re.compile(r"\$\{([A-Z0-9_]+)(?::-[^}]*)?\}")


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The variables a settings class reads: its prefix + field name, or a field's alias."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def read_by_code() -> set[str]:
    """Variables read by the shared settings, every service's settings and the routes file."""
    classes: list[type[BaseSettings]] = [KafkaSettings, RegistrySettings, ServiceSettings, RuntimeSettings,
                                         RegistryServerSettings]
    for service in available_services():
        module = importlib.import_module(f"services.{service.replace('-', '_')}.settings")
        classes += [c for _, c in inspect.getmembers(module, inspect.isclass)
                    if issubclass(c, BaseSettings) and c.__module__ == module.__name__]
    names = {PORT_ENV, HOST_ENV}.union(*(env_names(c) for c in classes))
    from services.router.routes import DEFAULT_ROUTES_FILE

    return names | set(ROUTES_VARIABLES.findall(DEFAULT_ROUTES_FILE.read_text(encoding="utf-8")))


def test_every_variable_the_manifests_set_is_read_by_the_code(by_kind: Objects) -> None:
    known = read_by_code()
    [config] = by_kind["ConfigMap"].values()
    assert set(config["data"]) <= known, set(config["data"]) - known
    for name, deployment in by_kind["Deployment"].items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        names = {e["name"] for e in container["env"]}
        assert names <= known, (name, names - known)


def test_the_reader_of_settings_names_is_not_vacuous() -> None:
    known = read_by_code()
    assert {"KAFKA_BOOTSTRAP_SERVERS", "SHOPIFY_WEBHOOK_SECRET", "ECOMBUS_SHUTDOWN_TIMEOUT_SECONDS",
            "ECOMBUS_ROUTER_STATE_DIR", "ERP_STOCK_DIR", "ECOMBUS_CRM_API_TOKEN"} <= known
    assert "ECOMBUS_CRM_API_TOKN" not in known
