"""A carrier's tracking service: signed EasyPost / AfterShip webhooks through a shipment's life.

Each event is a snapshot (status plus every scan so far), as the real services send them; a
shipment's events can be delivered in order, out of order (the final status early, earlier
scans after it) and with duplicates (the same event id again), which is what the bus must
survive. ``create_app`` serves ``POST /_sim/shipments`` and ``GET /_sim/sent`` so a running
simulator can be driven over HTTP (the demo); :class:`CarrierSimulator` sends directly.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import FastAPI

from bus.webhooks.signatures import SCHEMES

DEMO_SECRETS = {"easypost": "demo-easypost-secret", "aftership": "demo-aftership-secret"}
LIFE = ("pre_transit", "in_transit", "out_for_delivery", "delivered")
"""EasyPost statuses of an uneventful shipment."""
AFTERSHIP_TAGS = {"pre_transit": "InfoReceived", "in_transit": "InTransit",
                  "out_for_delivery": "OutForDelivery", "delivered": "Delivered", "failure": "AttemptFail",
                  "return_to_sender": "Exception"}
JST = timezone(timedelta(hours=9))
LOCATION_FIELDS = ("city", "state", "country", "zip")
SCANS = {
    "easypost": {"pre_transit": ("Shipping label created", ("LOS ANGELES", "CA", "US", "90001")),
                 "in_transit": ("Departed facility", ("ONTARIO", "CA", "US", "91761")),
                 "out_for_delivery": ("Out For Delivery Today", ("TORRANCE", "CA", "US", "90501")),
                 "delivered": ("Delivered, Front Door/Porch", ("TORRANCE", "CA", "US", "90501")),
                 "failure": ("Delivery attempted, no access", ("TORRANCE", "CA", "US", "90501"))},
    "aftership": {"pre_transit": ("荷物を受け付けました", ("品川区", "東京都", "JP", "140-0002")),
                  "in_transit": ("輸送中", ("港区", "東京都", "JP", "105-0022")),
                  "out_for_delivery": ("配達中", ("渋谷区", "東京都", "JP", "150-0001")),
                  "delivered": ("配達完了", ("渋谷区", "東京都", "JP", "150-0001")),
                  "failure": ("ご不在のため持ち戻り", ("渋谷区", "東京都", "JP", "150-0001"))},
}


@dataclass
class Shipment:
    """One parcel: which order it is for, its tracking number, and the statuses it goes through."""

    order_reference: str
    tracking_code: str
    provider: str = "easypost"
    carrier: str = "UPS"
    statuses: tuple[str, ...] = LIFE
    start: datetime = field(default_factory=lambda: datetime(2025, 6, 3, 9, 0, tzinfo=UTC))


def _when(shipment: Shipment, stage: int) -> datetime:
    return shipment.start + timedelta(hours=6 * stage)


def _easypost(shipment: Shipment, stage: int) -> dict[str, Any]:
    details = []
    for i, s in enumerate(shipment.statuses[:stage + 1]):
        message, place = SCANS["easypost"].get(s, (s, ("", "", "", "")))
        details.append({"status": s, "message": message,
                        "datetime": _when(shipment, i).isoformat().replace("+00:00", "Z"),
                        "tracking_location": dict(zip(LOCATION_FIELDS, place, strict=True))})
    event: dict[str, Any] = {
        "id": f"evt_{shipment.tracking_code}_{stage}", "object": "Event", "description": "tracker.updated",
        "mode": "test", "created_at": details[-1]["datetime"],
        "result": {"id": f"trk_{shipment.tracking_code.lower()}", "object": "Tracker",
                   "tracking_code": shipment.tracking_code, "carrier": shipment.carrier,
                   "status": shipment.statuses[stage], "reference": shipment.order_reference,
                   "public_url": f"https://track.easypost.com/{shipment.tracking_code}",
                   "tracking_details": details}}
    if stage:
        event["previous_attributes"] = {"status": shipment.statuses[stage - 1]}
    return event


def _aftership(shipment: Shipment, stage: int) -> dict[str, Any]:
    status = shipment.statuses[stage]
    checkpoints = []
    for i, s in enumerate(shipment.statuses[:stage + 1]):
        message, place = SCANS["aftership"].get(s, (s, ("", "", "", "")))
        checkpoints.append({"checkpoint_time": _when(shipment, i).astimezone(JST).isoformat(),
                            "tag": AFTERSHIP_TAGS.get(s, "Pending"), "message": message,
                            "location": f"{place[0]}, {place[1]}, {place[2]}"})
    tag = AFTERSHIP_TAGS.get(status, "Pending")
    return {"ts": int(_when(shipment, stage).timestamp()), "event": "tracking_update",
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"aftership:{shipment.tracking_code}:{stage}")),
            "is_tracking_first_tag": True,
            "msg": {"id": f"at{shipment.tracking_code.lower()}", "tracking_number": shipment.tracking_code,
                    "slug": shipment.carrier.lower(), "tag": tag, "subtag": f"{tag}_001",
                    "order_id": shipment.order_reference, "checkpoints": checkpoints,
                    "courier_tracking_link": f"https://www.ups.com/track?tracknum={shipment.tracking_code}"}}


def life_events(shipment: Shipment) -> list[bytes]:
    """The webhook bodies of the shipment's life, in the order things happened."""
    build = _easypost if shipment.provider == "easypost" else _aftership
    return [json.dumps(build(shipment, i), ensure_ascii=False).encode()
            for i in range(len(shipment.statuses))]


def sending_order(count: int, out_of_order: bool = False, duplicate: bool = False) -> list[int]:
    """Indexes of the events in the order they are sent.

    Out of order: the first, then the last (final status), then the others newest first. With
    duplicates: the second and the last are sent once more at the end.
    """
    order = list(range(count))
    if out_of_order and count > 2:
        order = [0, count - 1, *range(count - 2, 0, -1)]
    if duplicate and count > 1:
        order += [1, count - 1]
    return order


@dataclass
class CarrierSimulator:
    """Signs and posts tracking webhooks to the bus.

    Attributes:
        urls: webhook URL by provider (``easypost``, ``aftership``).
        secrets: signing secret by provider.
    """

    urls: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=lambda: dict(DEMO_SECRETS))
    sent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CarrierSimulator:
        """``ECOMBUS_SIM_CARRIER_WEBHOOK_URL_EASYPOST`` / ``_AFTERSHIP``, ``ECOMBUS_SIM_CARRIER_SECRET_*``."""
        env = os.environ if environ is None else environ
        sim = cls()
        for provider in ("easypost", "aftership"):
            if url := env.get(f"ECOMBUS_SIM_CARRIER_WEBHOOK_URL_{provider.upper()}"):
                sim.urls[provider] = url
            if secret := env.get(f"ECOMBUS_SIM_CARRIER_SECRET_{provider.upper()}"):
                sim.secrets[provider] = secret
        return sim

    async def send(self, shipment: Shipment, *, out_of_order: bool = False, duplicate: bool = False,
                   client: httpx.AsyncClient | None = None) -> list[dict[str, Any]]:
        """Send the shipment's life; returns one record per delivery with the answer it got."""
        bodies = life_events(shipment)
        http = client or httpx.AsyncClient(timeout=10)
        try:
            return [await self._post(http, shipment, index, bodies[index])
                    for index in sending_order(len(bodies), out_of_order, duplicate)]
        finally:
            if client is None:
                await http.aclose()

    async def _post(self, http: httpx.AsyncClient, shipment: Shipment, index: int,
                    body: bytes) -> dict[str, Any]:
        provider = shipment.provider
        headers = {"Content-Type": "application/json",
                   **SCHEMES[provider].sign(self.secrets.get(provider, ""), body)}
        record: dict[str, Any] = {"provider": provider, "tracking_code": shipment.tracking_code,
                                  "status": shipment.statuses[index], "stage": index, "http_status": None}
        try:
            response = await http.post(self.urls[provider], content=body, headers=headers)
            record["http_status"], record["answer"] = response.status_code, response.json()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            record["answer"] = f"{type(exc).__name__}: {exc}"
        self.sent.append(record)
        return record


def create_app(simulator: CarrierSimulator | None = None) -> FastAPI:
    """``POST /_sim/shipments`` ``{"order_reference": "6120004415", "provider": "aftership",
    "tracking_code": "1Z...", "carrier": "UPS", "out_of_order": true, "duplicate": true}``,
    ``GET /_sim/sent``, ``GET /readyz``."""
    sim = simulator or CarrierSimulator.from_env()
    app = FastAPI(title="ecombus carrier simulator", docs_url=None, redoc_url=None)

    @app.post("/_sim/shipments")
    async def ship(request: dict[str, Any]) -> dict[str, Any]:
        shipment = Shipment(str(request["order_reference"]),
                            request.get("tracking_code") or f"1Z{uuid.uuid4().hex[:14].upper()}",
                            request.get("provider", "easypost"), request.get("carrier", "UPS"),
                            tuple(request.get("statuses") or LIFE))
        sent = await sim.send(shipment, out_of_order=bool(request.get("out_of_order")),
                              duplicate=bool(request.get("duplicate")))
        return {"shipment": asdict(shipment), "sent": sent}

    @app.get("/_sim/sent")
    def sent() -> dict[str, Any]:
        return {"sent": sim.sent}

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
