"""cXML OrderRequest: what an ERP accepts over HTTP for a new order (REFERENCE.md §7).

:func:`order_request` renders an OrderPlaced (Avro form) as::

    <cXML payloadID="..." timestamp="..." xml:lang="en">
      <Header><From/><To/><Sender/></Header>
      <Request><OrderRequest>
        <OrderRequestHeader orderID="SHOP-1042" orderDate="2025-06-03T01:12:43+00:00" type="new">
          <Total><Money currency="USD">38.63</Money></Total>
          <ShipTo><Address>...</Address></ShipTo> <BillTo><Address>...</Address></BillTo>
        </OrderRequestHeader>
        <ItemOut lineNumber="1" quantity="2">
          <ItemID><SupplierPartID>MATCHA-40G</SupplierPartID></ItemID>
          <ItemDetail><UnitPrice><Money currency="USD">17.80</Money></UnitPrice>
            <Description xml:lang="ja">抹茶 40g</Description></ItemDetail>
        </ItemOut>
      </OrderRequest></Request>
    </cXML>

``payloadID`` is derived from the event id, so a redelivered order carries the same one and the
ERP can ignore the repeat. Characters XML 1.0 does not allow (``\x0b``, ``\x1b``...) are written
as U+FFFD (:func:`~services.router.formats.xml.clean_tree`), so the document always parses.
:func:`read_order_request` parses one back (defusedxml).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from bus.errors import FormatError
from services.router.formats.xml import clean_tree, parse
from services.router.money import format_money

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def order_id_for_erp(order: dict[str, Any]) -> str:
    """The order's id in the ERP: platform prefix + the storefront's order number."""
    prefix = {"shopify": "SHOP", "woocommerce": "WOO", "bigcommerce": "BC"}.get(
        order["meta"]["source"]["platform"], order["meta"]["source"]["platform"].upper())
    number = (order.get("order_number") or order["platform_order_id"]).lstrip("#")
    return f"{prefix}-{number}"


def _money(parent: Element, tag: str, amount: Any, currency: str) -> None:
    SubElement(SubElement(parent, tag), "Money", currency=currency).text = format_money(amount, currency)


def _address(parent: Element, tag: str, address: dict[str, Any] | None) -> None:
    if not address:
        return
    node = SubElement(SubElement(parent, tag), "Address", isoCountryCode=address["country_code"])
    name = " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
    SubElement(node, "Name", {XML_LANG: "en"}).text = name
    postal = SubElement(node, "PostalAddress")
    for line in (address.get("line1"), address.get("line2")):
        if line:
            SubElement(postal, "Street").text = line
    SubElement(postal, "City").text = address.get("city")
    if address.get("province"):
        SubElement(postal, "State").text = address["province"]
    if address.get("postal_code"):
        SubElement(postal, "PostalCode").text = address["postal_code"]
    SubElement(postal, "Country", isoCountryCode=address["country_code"]).text = address["country_code"]


def order_request(order: dict[str, Any], sender: str = "ecombus", to: str = "erp") -> bytes:
    """The cXML OrderRequest of an OrderPlaced, UTF-8 with an XML declaration."""
    placed = order["placed_at"]
    placed = placed if isinstance(placed, datetime) else datetime.fromtimestamp(placed / 1000, UTC)
    currency = order["currency"]
    root = Element("cXML", {"payloadID": f"{order['meta']['event_id']}@ecombus",
                            "timestamp": placed.astimezone(UTC).isoformat(), XML_LANG: "en"})
    header = SubElement(root, "Header")
    for tag, identity in (("From", sender), ("To", to), ("Sender", sender)):
        credential = SubElement(SubElement(header, tag), "Credential", domain="NetworkID")
        SubElement(credential, "Identity").text = identity
    request = SubElement(SubElement(root, "Request"), "OrderRequest")
    head = SubElement(request, "OrderRequestHeader", orderID=order_id_for_erp(order),
                      orderDate=placed.astimezone(UTC).isoformat(), type="new")
    _money(head, "Total", order["totals"]["total"]["shop"]["amount"], currency)
    _address(head, "ShipTo", order.get("shipping_address"))
    _address(head, "BillTo", order.get("billing_address"))
    for number, line in enumerate(order["lines"], start=1):
        item = SubElement(request, "ItemOut", lineNumber=str(number), quantity=str(line["quantity"]))
        SubElement(SubElement(item, "ItemID"), "SupplierPartID").text = line["sku"]
        detail = SubElement(item, "ItemDetail")
        _money(detail, "UnitPrice", line["unit_price"]["shop"]["amount"], currency)
        SubElement(detail, "Description", {XML_LANG: "en"}).text = line["title"]
    clean_tree(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8",
                                                                   xml_declaration=False)


def read_order_request(data: bytes) -> dict[str, Any]:
    """The essentials of an OrderRequest: payload id, order id, total, currency, lines.

    Raises:
        FormatError: not well-formed or unsafe XML, no OrderRequestHeader/Total, or an ItemOut
            whose lineNumber or quantity is not a whole number.
    """
    root = parse(data)
    head = root.find("Request/OrderRequest/OrderRequestHeader")
    total = root.find("Request/OrderRequest/OrderRequestHeader/Total/Money")
    if head is None or total is None:
        raise FormatError("not a cXML OrderRequest: OrderRequestHeader/Total missing")
    try:
        lines = [{"line": int(item.get("lineNumber", "0")), "quantity": int(item.get("quantity", "0")),
                  "sku": item.findtext("ItemID/SupplierPartID"),
                  "unit_price": item.findtext("ItemDetail/UnitPrice/Money")}
                 for item in root.iter("ItemOut")]
    except ValueError as exc:
        raise FormatError("not a cXML OrderRequest: an ItemOut's lineNumber or quantity is not a "
                          "whole number") from exc
    return {"payload_id": root.get("payloadID"), "order_id": head.get("orderID"),
            "order_date": head.get("orderDate"), "total": total.text,
            "currency": total.get("currency"), "ship_city": root.findtext(
                "Request/OrderRequest/OrderRequestHeader/ShipTo/Address/PostalAddress/City"),
            "lines": lines}
