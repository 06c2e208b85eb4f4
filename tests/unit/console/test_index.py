"""The journey index on records as the Avro decoder returns them (no broker): what each query answers."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bus.contracts import models as m
from bus.contracts.examples import examples, order_placed
from services.console.index import JourneyIndex, Record, Topics

T0 = 1_750_000_000_000
ORDER = order_placed(1042).order_id  # shopify:hanako-tea.myshopify.com:6120004415
RAW_BODY = b'{"id": 6120004415}'


class Topic:
    """Appends records to one partition of a topic, as a broker would number them."""

    def __init__(self, name: str, partition: int = 0) -> None:
        self.name, self.partition, self.offset = name, partition, 0

    def record(self, value: Any, at: int, key: str | None = None,
               headers: list[tuple[str, bytes]] | None = None) -> Record:
        encoded = key.encode() if key else None
        record = Record(self.name, self.partition, self.offset, at, encoded, headers, value)
        self.offset += 1
        return record


@pytest.fixture
def index(tmp_path: Path) -> JourneyIndex:
    idx = JourneyIndex(tmp_path / "index.sqlite")
    yield idx
    idx.close()


def placed(number: int, email: str = "hanako.sato@example.jp") -> dict[str, Any]:
    order = order_placed(number)
    return replace(order, customer=replace(order.customer, email=email)).to_avro()


def audit(service: str, handler: str, outcome: str, at: int, where: Record, order_id: str | None = ORDER,
          correlation_id: str | None = None, route: str | None = None,
          dlq: str | None = None) -> dict[str, Any]:
    error = None
    if outcome == "DEAD_LETTERED":
        error = {"kind": "PERMANENT", "class_name": "bus.errors.InvalidInput",
                 "message": "lines[0].sku: missing", "dlq_topic": dlq or f"dlq.{service}"}
    return {"meta": {"event_id": f"audit-{service}-{at}", "occurred_at": at,
                     "source": {"platform": "ecombus", "system": service},
                     "correlation_id": correlation_id or order_id or "?", "causation_id": None},
            "service": service, "event_id": f"evt-{where.offset}", "outcome": outcome,
            "duration_seconds": 0.01, "attempts": 1, "error": error, "topic": where.topic,
            "partition": where.partition, "offset": where.offset, "handler": handler, "route": route,
            "step": None, "order_id": order_id}


def raw_delivery(identity: str, at: int) -> dict[str, Any]:
    return {"meta": {"event_id": f"delivery-{at}", "occurred_at": at,
                     "source": {"platform": "shopify", "system": "hanako-tea.myshopify.com"},
                     "correlation_id": identity, "causation_id": None},
            "identity": identity, "channel": "webhook", "topic": "orders/create", "path": "/webhooks/shopify",
            "headers": {"x-shopify-topic": "orders/create"}, "body": RAW_BODY,
            "received_by": "order-capture@web-1", "remote_addr": "203.0.113.7"}


def dead_letter_headers(original: Record, service: str, route: str | None = None) -> list[tuple[str, bytes]]:
    headers = {"__connect.errors.topic": original.topic,
               "__connect.errors.partition": str(original.partition),
               "__connect.errors.offset": str(original.offset),
               "__connect.errors.exception.class.name": "bus.errors.InvalidInput",
               "__connect.errors.exception.message": "lines[0].sku: missing",
               "ecombus.errors.service": service, "ecombus.errors.handler": "orders-to-erp-cxml",
               "ecombus.errors.kind": "permanent", "ecombus.errors.attempts": "1"}
    if route:
        headers["ecombus.errors.route"] = route
    return [(k, v.encode()) for k, v in headers.items()]


def happy_story(index: JourneyIndex) -> dict[str, Record]:
    """One order from webhook to delivery, recorded on every topic the way the services do."""
    intake, orders, status = (Topic("intake.storefronts.v1"), Topic("orders.placed.v1"),
                              Topic("orders.status.v1"))
    reservations, shipments, trail = (Topic("inventory.reservations.v1"), Topic("shipments.tracking.v1"),
                                      Topic("bus.audit.v1"))
    ex = examples()
    delivery = intake.record(raw_delivery(ORDER, T0), T0, key=ORDER)
    order = orders.record(placed(1042), T0 + 100, key=ORDER)
    reservation = reservations.record(ex["StockReservation"].to_avro(), T0 + 300, key=ORDER)
    reserved = status.record(ex["OrderStatusChanged"].to_avro(), T0 + 310, key=ORDER)
    shipped = status.record(replace(ex["OrderStatusChanged"], status=m.OrderStatus.SHIPPED,
                                    previous_status=m.OrderStatus.RESERVED, reason="label printed").to_avro(),
                            T0 + 5_000, key=ORDER)
    scan = shipments.record(ex["ShipmentUpdated"].to_avro(), T0 + 6_000, key=ORDER)
    delivered = status.record(replace(ex["OrderStatusChanged"], status=m.OrderStatus.DELIVERED,
                                      previous_status=m.OrderStatus.SHIPPED, reason=None).to_avro(),
                              T0 + 9_000, key=ORDER)
    records = [delivery, order, reservation, reserved, shipped, scan, delivered]
    records += [trail.record(audit("order-capture", "interpret_delivery", "OK", T0 + 90, delivery), T0 + 90),
                trail.record(audit("inventory-sync", "reserve_stock", "OK", T0 + 290, order), T0 + 290),
                trail.record(audit("router", "orders-to-erp-csv+orders-to-erp-cxml+order-review", "OK",
                                   T0 + 400, order), T0 + 400)]
    index.add_many(reversed(records))  # the order topics are read in must not matter
    return {"delivery": delivery, "order": order}


def test_search_finds_an_order_by_each_of_its_keys(index: JourneyIndex) -> None:
    orders = Topic("orders.placed.v1")
    trail = Topic("bus.audit.v1")
    first = orders.record(placed(1042, email="Hanako.Sato@Example.JP"), T0)
    second = orders.record(placed(1043, email="someone@example.com"), T0 + 1)
    index.add_many([first, second,
                    trail.record(audit("crm-updater", "count_order", "OK", T0 + 5, first,
                                       correlation_id="corr-42"), T0 + 5)])
    platform_id = first.value["platform_order_id"]

    for text in (ORDER, "corr-42", "1042", "#1042", f" {platform_id} ", "hanako.sato@example.jp",
                 "HANAKO.SATO@EXAMPLE.JP"):
        hits = index.search(text)
        assert [h.order_id for h in hits] == [ORDER], text
    hit = index.search("#1042")[0]
    assert (hit.order_number, hit.platform, hit.shop, hit.email) == (
        "#1042", "shopify", "hanako-tea.myshopify.com", "Hanako.Sato@Example.JP")
    assert hit.total == "38.63 USD"
    assert hit.last_step == "customer figures updated" and hit.last_outcome == "OK" and not hit.dead_lettered
    assert [h.order_number for h in index.search("1043")] == ["#1043"]
    assert index.search("1044") == [] and index.search("hanako") == [] and index.search("  ") == []


def test_search_finds_an_order_only_received_so_far(index: JourneyIndex) -> None:
    index.add_many([Topic("intake.storefronts.v1").record(raw_delivery(ORDER, T0), T0)])
    [hit] = index.search(ORDER)
    assert hit.order_id == ORDER and hit.order_number is None and hit.last_step is None


def test_journey_is_one_timeline_oldest_first_in_words(index: JourneyIndex) -> None:
    happy_story(index)
    journey = index.journey(ORDER)
    assert journey is not None
    assert [(s.label, s.outcome) for s in journey.steps] == [
        ("received (orders/create)", "RECEIVED"),
        ("delivery interpreted", "OK"),
        ("order placed", "EVENT"),
        ("stock reservation made", "OK"),
        ("stock reserved", "EVENT"),
        ("status: reserved", "EVENT"),
        ("sent to the ERP (ERP import file, ERP cXML order)", "OK"),
        ("fulfilled (shipped)", "EVENT"),
        ("tracking update: in transit", "EVENT"),
        ("delivered", "EVENT"),
    ]
    first = journey.steps[0]
    assert first.detail == "webhook /webhooks/shopify from 203.0.113.7"
    assert first.service == "order-capture@web-1"
    assert first.where == "intake.storefronts.v1/0/0"
    assert journey.steps[7].detail == "RESERVED → SHIPPED: label printed"
    assert "JapanPost EJ123456789JP" in (journey.steps[8].detail or "")
    assert [s.minor for s in journey.steps[:2]] == [False, True]
    assert journey.complete and journey.stopped_at is None
    assert index.journey("shopify:hanako-tea.myshopify.com:1") is None


def test_a_dead_letter_is_joined_to_its_audit_step_until_it_is_replayed(index: JourneyIndex) -> None:
    story = happy_story(index)
    order, trail, dlq = story["order"], Topic("bus.audit.v1", partition=1), Topic("dlq.router")
    letter = dlq.record(b"\x00raw bytes", T0 + 500, key=ORDER,
                        headers=dead_letter_headers(order, "router", route="orders-to-erp-cxml"))
    # the dead letter is read before the audit record that says which order it is about
    index.add_many([letter])
    assert index.dead_letter("dlq.router", 0, 0).order_id is None  # type: ignore[union-attr]
    failed = audit("router", "orders-to-erp-csv+orders-to-erp-cxml+order-review", "DEAD_LETTERED", T0 + 450,
                   order, route="orders-to-erp-cxml")
    index.add_many([trail.record(failed, T0 + 450)])

    row = index.dead_letter("dlq.router", 0, 0)
    assert row is not None and row.order_id == ORDER and not row.replayed
    assert (row.original_topic, row.original_partition, row.original_offset) == ("orders.placed.v1", 0, 0)
    assert row.reason == "InvalidInput: lines[0].sku: missing" and row.route == "orders-to-erp-cxml"
    assert row.key == ORDER
    journey = index.journey(ORDER)
    assert journey is not None and not journey.complete
    stopped = journey.stopped_at
    assert stopped is not None and stopped.label == "ERP cXML order failed: dead-lettered"
    assert stopped.reason == "InvalidInput: lines[0].sku: missing"
    assert stopped.dead_letter is not None
    assert (stopped.dead_letter.topic, stopped.dead_letter.offset, stopped.dead_letter.replayed) == (
        "dlq.router", 0, False)
    assert index.search(ORDER)[0].dead_lettered
    [group] = index.dead_letter_summary(now_ms=T0 + 60_500)
    assert (group.service, group.reason, group.count, group.oldest_age_seconds) == (
        "router", "InvalidInput: lines[0].sku: missing", 1, 60.0)

    replayed = Topic("orders.placed.v1", partition=2).record(
        placed(1042), T0 + 500, key=ORDER, headers=[("ecombus.replayed.from", b"dlq.router/0/0")])
    index.add_many([replayed])

    row = index.dead_letter("dlq.router", 0, 0)
    assert row is not None and row.replayed and row.replayed_by == "orders.placed.v1/2/0"
    assert index.dead_letter_summary() == [] and index.dead_letters() == []
    assert [d.offset for d in index.dead_letters(pending_only=False)] == [0]
    journey = index.journey(ORDER)
    assert journey is not None and journey.stopped_at is None and journey.complete
    assert not index.search(ORDER)[0].dead_lettered


def test_mark_replayed_and_listing_by_service_and_reason(index: JourneyIndex) -> None:
    source, dlq = Topic("orders.placed.v1"), Topic("dlq.inventory-sync")
    letters = [dlq.record(b"x", T0 + n,
                          headers=dead_letter_headers(source.record(placed(n), T0), "inventory-sync"))
               for n in range(3)]
    index.add_many(letters)
    assert [d.offset for d in index.dead_letters(service="inventory-sync")] == [0, 1, 2]
    assert [d.offset for d in index.dead_letters(service="inventory-sync", limit=2, offset=1)] == [1, 2]
    assert index.dead_letters(service="router") == []
    assert index.dead_letters(reason="Other: thing") == []

    index.mark_replayed("dlq.inventory-sync", 0, 1, by="alice", at_ms=T0 + 99)

    assert [d.offset for d in index.dead_letters()] == [0, 2]
    row = index.dead_letter("dlq.inventory-sync", 0, 1)
    assert row is not None and (row.replayed, row.replayed_by, row.replayed_at_ms) == (True, "alice", T0 + 99)
    [group] = index.dead_letter_summary(now_ms=T0 + 10_000)
    assert group.count == 2 and group.oldest_pending_ms == T0


def test_erp_gap_counts_orders_placed_without_a_successful_erp_route(index: JourneyIndex) -> None:
    orders, trail = Topic("orders.placed.v1"), Topic("bus.audit.v1")
    sent, stuck, reviewed = (orders.record(placed(n), T0) for n in (1, 2, 3))
    ids = [r.value["order_id"] for r in (sent, stuck, reviewed)]
    index.add_many([
        trail.record(audit("router", "orders-to-erp-csv+orders-to-erp-cxml", "OK", T0 + 10, sent, ids[0]),
                     T0),
        trail.record(audit("router", "order-review", "OK", T0 + 10, reviewed, ids[2]), T0),
        trail.record(audit("inventory-sync", "reserve_stock", "OK", T0 + 10, stuck, ids[1]), T0),
    ])
    assert index.erp_gap(now_ms=T0).count == 0  # nothing placed yet: nothing missing

    index.add_many([sent, stuck, reviewed])

    placed_at = int(sent.value["placed_at"].timestamp() * 1000)
    gap = index.erp_gap(now_ms=placed_at + 120_000)
    assert (gap.count, gap.oldest_age_seconds, sorted(gap.order_ids)) == (2, 120.0, sorted(ids[1:]))
    count, age, order_ids = gap
    assert (count, age, order_ids) == (gap.count, gap.oldest_age_seconds, gap.order_ids)


def test_service_rates_count_outcomes_per_bucket(index: JourneyIndex) -> None:
    trail, source = Topic("bus.audit.v1"), Topic("orders.placed.v1").record(placed(1), T0)
    outcomes = [("router", "OK", 0), ("router", "OK", 1_000), ("router", "DEAD_LETTERED", 2_500),
                ("router", "DUPLICATE", 9_999), ("router", "OK", 10_000), ("crm-updater", "FAILED", 3_000)]
    index.add_many([trail.record(audit(s, "h", o, T0 + dt, source), T0) for s, o, dt in outcomes])
    index.add_many([trail.record(audit("router", "h", "OK", T0 - 60_000, source), T0)])  # before since

    rates = index.service_rates(since_ms=T0 + 5_000, bucket_seconds=10)  # from the bucket holding it

    bucket = (T0 // 10_000) * 10_000
    assert T0 - 60_000 < bucket <= T0
    assert rates == {"crm-updater": {bucket: {"FAILED": 1}},
                     "router": {bucket: {"OK": 2, "DEAD_LETTERED": 1, "DUPLICATE": 1},
                                bucket + 10_000: {"OK": 1}}}


def test_undecodable_and_misshapen_records_are_skipped_but_move_the_position(index: JourneyIndex) -> None:
    trail = Topic("bus.audit.v1")
    skipped = index.add_many([trail.record(None, T0), trail.record({"service": "router"}, T0),
                              trail.record(b"not avro", T0),
                              Topic("orders.placed.v1").record(placed(1), T0 + 7)])
    assert skipped.skipped == {"bus.audit.v1": 3}
    assert skipped.records == {"bus.audit.v1": 3, "orders.placed.v1": 1}
    assert index.next_offsets() == {("bus.audit.v1", 0): 3, ("orders.placed.v1", 0): 1}
    stats = index.stats()
    assert stats["steps"] == 0 and stats.get("orders") == 1 and stats.tables["events"] == 1
    assert stats.records == {"bus.audit.v1": 3, "orders.placed.v1": 1}
    assert stats.last_ms["orders.placed.v1"] == T0 + 7


def test_topic_roles_come_from_the_caller(tmp_path: Path) -> None:
    topics = Topics(audit="t.audit", placed="t.placed", intake=("t.intake",), dlq_prefix="t.dlq.")
    index = JourneyIndex(tmp_path / "i.sqlite", topics)
    source = Topic("t.placed").record(placed(1), T0)
    letter = Topic("t.dlq.router").record(b"x", T0, headers=dead_letter_headers(source, "router"))
    index.add_many([source, letter,
                    Topic("bus.audit.v1").record(audit("router", "h", "OK", T0, source), T0)])
    assert index.stats().tables["steps"] == 0  # not its audit topic
    [letter] = index.dead_letters()
    assert letter.service == "router" and letter.topic == "t.dlq.router"
    index.close()


def test_a_fresh_open_drops_what_the_file_held(tmp_path: Path) -> None:
    first = JourneyIndex(tmp_path / "i.sqlite")
    first.add_many([Topic("orders.placed.v1").record(placed(1), T0)])
    first.close()
    again = JourneyIndex(tmp_path / "i.sqlite")
    assert again.stats().tables["orders"] == 0 and again.next_offsets() == {}
    again.close()


def test_readers_on_other_threads_see_whole_batches_while_the_writer_writes(index: JourneyIndex) -> None:
    orders, errors, seen = Topic("orders.placed.v1"), [], []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(index.stats().tables["orders"])
        except Exception as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for batch in range(20):
        index.add_many([orders.record(placed(batch * 50 + n), T0) for n in range(50)])
    done.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert all(n % 50 == 0 for n in seen) and max(seen) <= 1000  # whole batches only
    assert index.stats().tables["orders"] == 1000


def test_the_flow_page_reads_rates_and_the_erp_gap_from_the_index(index: JourneyIndex) -> None:
    from services.console.flow import index_erp_gap, index_flows

    now = T0 + 600_000
    source = Topic("orders.placed.v1").record(placed(1), T0)
    trail = Topic("bus.audit.v1")
    outcomes = ["OK" if n % 10 else "DEAD_LETTERED" for n in range(100)]
    index.add_many([source] + [trail.record(audit("router", "h", outcome, now - 200_000 + n * 1_000, source),
                                            now) for n, outcome in enumerate(outcomes)])

    [router] = index_flows(index, now)
    assert router.service == "router" and router.failed_last_hour == 10
    assert router.in_per_second == pytest.approx(100 / 300, rel=0.2)
    gap = index_erp_gap(index, now)
    assert gap.count == 1 and gap.order_ids == (source.value["order_id"],)


def test_latest_orders_newest_first_with_their_status_and_who_replayed_a_dead_letter(
        index: JourneyIndex) -> None:
    story = happy_story(index)  # order #1042: placed at T0 + 100, delivered
    later = order_placed(1043)
    index.add_many([Topic("orders.placed.v1", partition=1).record(later.to_avro(), T0 + 50_000)])
    newest, oldest = index.latest(10)
    assert (newest.order_id, newest.status) == (later.order_id, None)
    assert (oldest.order_id, oldest.status) == (ORDER, "DELIVERED")
    assert oldest.last_step == "sent to the ERP (ERP import file, ERP cXML order)", "not a minor step"
    assert [h.order_id for h in index.latest(1)] == [later.order_id]

    trail = Topic("bus.audit.v1", partition=1)
    index.add_many([trail.record(audit("router", "orders-to-erp-csv", "DEAD_LETTERED", T0 + 600,
                                       story["order"]), T0 + 600),
                    Topic("dlq.router").record(b"\x00raw", T0 + 600, key=ORDER,
                                               headers=dead_letter_headers(story["order"], "router"))])
    index.add_many([Topic("orders.placed.v1", partition=3).record(
        placed(1042), T0 + 700, key=ORDER,
        headers=[("ecombus.replayed.from", b"dlq.router/0/0"), ("ecombus.replayed.by", b"ana")])])
    journey = index.journey(ORDER)
    assert journey is not None
    [failed] = [s for s in journey.steps if s.dead_letter is not None]
    assert failed.dead_letter is not None
    assert (failed.dead_letter.replayed, failed.dead_letter.by) == (True, "ana")


def after_sale_story(index: JourneyIndex) -> None:
    """Order #1042 placed, then cancelled, partially refunded with a restock, returned, disputed;
    each after-sale topic read in its own batch, the order last (arrival order must not matter)."""
    ex = examples()
    orders, cancellations, refunds, returns, disputes = (
        Topic(t) for t in ("orders.placed.v1", "orders.cancellations.v1", "orders.refunds.v1",
                           "orders.returns.v1", "orders.disputes.v1"))
    index.add_many([cancellations.record(ex["OrderCancelled"].to_avro(), T0 + 1_000, key=ORDER)])
    index.add_many([refunds.record(ex["OrderRefunded"].to_avro(), T0 + 2_000, key=ORDER),
                    refunds.record(ex["OrderRefunded"].to_avro(), T0 + 2_500, key=ORDER)])  # redelivered
    index.add_many([returns.record(ex["ReturnUpdated"].to_avro(), T0 + 3_000, key=ORDER)])
    index.add_many([disputes.record(ex["DisputeUpdated"].to_avro(), T0 + 4_000, key=ORDER)])
    index.add_many([orders.record(placed(1042), T0, key=ORDER)])


def test_after_sale_events_are_steps_of_the_journey_in_words(index: JourneyIndex) -> None:
    after_sale_story(index)
    journey = index.journey(ORDER)
    assert journey is not None
    assert [(s.label, s.detail) for s in journey.steps] == [
        ("order placed", "#1042 · 38.63 USD"),
        ("cancelled", "customer; stock returns"),
        ("refunded 19.31 USD (1 unit restocked)", "the tin arrived dented"),
        ("refunded 19.31 USD (1 unit restocked)", "the tin arrived dented"),
        ("return received", "MATCHA-40G: 1 (DEFECTIVE)"),
        ("disputed: fraudulent", "chargeback 38.63 USD, evidence due 2025-06-03"),
    ]
    assert journey.steps[1].where == "orders.cancellations.v1/0/0"
    assert journey.complete  # cancelled is a final status


def test_the_journey_header_has_the_payment_status_from_the_order_events(index: JourneyIndex) -> None:
    placed_only = Topic("orders.placed.v1").record(placed(1042), T0, key=ORDER)
    index.add_many([placed_only])
    journey = index.journey(ORDER)
    assert journey is not None and journey.payment is not None
    assert journey.payment.describe() == "paid (38.63 USD)"

    refund = Topic("orders.refunds.v1").record(examples()["OrderRefunded"].to_avro(), T0 + 10, key=ORDER)
    index.add_many([refund])
    payment = index.journey(ORDER).payment  # type: ignore[union-attr]
    assert payment is not None and payment.status == "PARTIALLY_REFUNDED"
    assert payment.describe().startswith("partially refunded (19.31 of 38.63 USD refunded")


def test_an_open_dispute_makes_the_payment_disputed_and_a_won_one_ends_it(index: JourneyIndex) -> None:
    after_sale_story(index)
    payment = index.journey(ORDER).payment  # type: ignore[union-attr]
    assert payment is not None and payment.status == "DISPUTED" and payment.cancelled
    won = replace(examples()["DisputeUpdated"], status=m.DisputeStatus.WON)
    index.add_many([Topic("orders.disputes.v1", partition=1).record(won.to_avro(), T0 + 9_000, key=ORDER)])
    journey = index.journey(ORDER)
    assert journey is not None and journey.payment is not None
    assert journey.payment.status == "PARTIALLY_REFUNDED"  # the redelivered refund counted once
    assert journey.steps[-1].label == "dispute won"


def test_an_after_sale_record_of_the_wrong_shape_is_skipped(index: JourneyIndex) -> None:
    ingested = index.add_many([Topic("orders.refunds.v1").record({"order_id": ORDER}, T0, key=ORDER)])
    assert ingested.skipped["orders.refunds.v1"] == 1
    assert index.journey(ORDER) is None


def test_the_journey_page_shows_the_payment_status_in_its_header(index: JourneyIndex) -> None:
    from tests.unit.console.fakes import VIEWER_TOKEN, console, signed_in

    after_sale_story(index)
    c = console()
    c.index = index
    page = signed_in(VIEWER_TOKEN, c).get(f"/journeys/{ORDER}")
    assert page.status_code == 200, page.text
    assert ('<p data-testid="payment" data-status="DISPUTED" class="notice bad">Payment: disputed '
            '(fraudulent, 38.63 USD, needs response; 19.31 of 38.63 USD refunded; ') in page.text
    assert "Refunded 19.31 USD (1 unit restocked)" in page.text and "Return received" in page.text
