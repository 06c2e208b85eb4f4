"""crm-updater's wiring: exactly-once always, handlers on the configured topics, its parts declared on
the assembly (consumer, flusher, the flusher's producer closed), its series on the assembly's registry,
nothing connects."""

from __future__ import annotations

from bus.assembly import Assembly
from bus.runtime.codec import JsonCodec
from bus.runtime.service import RuntimeSettings
from services.crm_updater import SERVICE
from services.crm_updater.settings import CrmUpdaterSettings
from services.crm_updater.wiring import build
from tests.unit.runtime.fakes import UNREACHABLE_KAFKA


def test_build_declares_the_parts_without_touching_the_network() -> None:
    settings = CrmUpdaterSettings(orders_topic="o", profiles_topic="p", refunds_topic="r",
                                  cancellations_topic="c", outbox_topic="x")
    assembly = Assembly(SERVICE, admin=("127.0.0.1", 0))
    updater = build(assembly, settings, RuntimeSettings(exactly_once=False, group_id="g"), UNREACHABLE_KAFKA,
                    codec=JsonCodec())
    assert updater.runtime.exactly_once, "always exactly-once: the state is only right that way"
    assert updater.service.settings.exactly_once, "the consumer loop runs with those settings"
    assert updater.service.handlers.topics == ["c", "o", "p", "r"]
    assert (updater.flusher.group_id, updater.flusher.topic, updater.group_id) == ("g.crm", "x", "g")
    assert updater.flusher.batch.size == 100
    assert [name for name, _ in assembly.parts] == ["consumer", "crm-flusher"]
    assert assembly.parts[0][1] is updater.service
    assert len(assembly.closers) == 1, "the flusher's producer is closed after the parts"
    assert (updater.service.metrics, updater.service.health) == (assembly.metrics, assembly.health)
    assert assembly.registry.get_sample_value("ecombus_crm_pending_contacts", {"service": SERVICE}) == 0
