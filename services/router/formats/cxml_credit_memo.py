"""cXML credit memo: how a refund reaches an ERP over HTTP (an InvoiceDetailRequest).

cXML has no refund document; a supplier's credit is an ``InvoiceDetailRequest`` whose header
says ``purpose="creditMemo"``, with every amount and quantity negative (cXML's invoice guide).
:func:`credit_memo` renders an OrderRefunded (Avro form) as::

    <cXML payloadID="shopify:refund:509562969@ecombus" timestamp="2025-06-03T01:12:43+00:00">
      <Header><From/><To/><Sender/></Header>
      <Request><InvoiceDetailRequest>
        <InvoiceDetailRequestHeader invoiceID="SHOP-CM-509562969" purpose="creditMemo"
                                    operation="new" invoiceDate="2025-06-03T01:12:43+00:00">
          <InvoiceDetailHeaderIndicator/><InvoiceDetailLineIndicator/>
          <Comments xml:lang="en">the tin arrived dented</Comments>
        </InvoiceDetailRequestHeader>
        <InvoiceDetailOrder>
          <InvoiceDetailOrderInfo><OrderReference orderID="SHOP-6120004415">
            <DocumentReference payloadID="shopify:hanako-tea.myshopify.com:6120004415"/>
          </OrderReference></InvoiceDetailOrderInfo>
          <InvoiceDetailItem invoiceLineNumber="1" quantity="-1">
            <UnitOfMeasure>EA</UnitOfMeasure>
            <UnitPrice><Money currency="USD">-17.80</Money></UnitPrice>
            <InvoiceDetailItemReference lineNumber="1">
              <ItemID><SupplierPartID>MATCHA-40G</SupplierPartID></ItemID></InvoiceDetailItemReference>
            <SubtotalAmount><Money currency="USD">-17.80</Money></SubtotalAmount>
          </InvoiceDetailItem>
        </InvoiceDetailOrder>
        <InvoiceDetailSummary>
          <SubtotalAmount/> <Tax/> <ShippingAmount/> <NetAmount/>   (each a negative Money)
        </InvoiceDetailSummary>
      </InvoiceDetailRequest></Request>
    </cXML>

``payloadID`` comes from the event id (derived from the platform's refund id), so a redelivered
refund carries the same one and the ERP recognises the repeat. The order is referenced by the
id the ERP knows it under where the event says it (:func:`erp_order_reference`) and by the
bus's order id (``DocumentReference``). Money keeps the currency's own decimals, exactly.
:func:`read_credit_memo` parses one back (defusedxml).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from bus.errors import FormatError
from services.router.formats.cxml import XML_LANG
from services.router.formats.xml import clean_tree, parse
from services.router.money import format_money

PREFIXES = {"shopify": "SHOP", "woocommerce": "WOO", "bigcommerce": "BC"}
"""The ERP's prefix of each platform's documents (as the order import's External IDs)."""


def _prefix(event: dict[str, Any]) -> str:
    platform = event["meta"]["source"]["platform"]
    return PREFIXES.get(platform, platform.upper())


def erp_order_reference(event: dict[str, Any]) -> str:
    """The order's id in the ERP for an after-sale event: prefix + order number or platform id.

    The after-sale contracts carry the bus's ``order_id`` (``platform:shop:platform order id``),
    not the order number: for WooCommerce and BigCommerce the number is the id, so this is the
    order import's External ID; for Shopify it is ``SHOP-<order id>``, not ``SHOP-<name>``.
    """
    number = event.get("order_number") or event["order_id"].rsplit(":", 1)[-1]
    return f"{_prefix(event)}-{str(number).lstrip('#')}"


def _negative_money(parent: Element, tag: str, amount: Any, currency: str) -> None:
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount or 0))
    value = -value if value else Decimal(0)  # zero is written 0.00, never -0.00
    SubElement(SubElement(parent, tag), "Money", currency=currency).text = format_money(value, currency)


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, UTC)


def credit_memo(refund: dict[str, Any], sender: str = "ecombus", to: str = "erp") -> bytes:
    """The cXML credit memo of an OrderRefunded, UTF-8 with an XML declaration."""
    when = _time(refund["refunded_at"]).astimezone(UTC).isoformat()
    currency = refund["currency"]
    root = Element("cXML", {"payloadID": f"{refund['meta']['event_id']}@ecombus", "timestamp": when,
                            XML_LANG: "en"})
    header = SubElement(root, "Header")
    for tag, identity in (("From", sender), ("To", to), ("Sender", sender)):
        credential = SubElement(SubElement(header, tag), "Credential", domain="NetworkID")
        SubElement(credential, "Identity").text = identity
    request = SubElement(SubElement(root, "Request"), "InvoiceDetailRequest")
    head = SubElement(request, "InvoiceDetailRequestHeader", purpose="creditMemo", operation="new",
                      invoiceID=f"{_prefix(refund)}-CM-{refund['refund_id']}", invoiceDate=when)
    SubElement(head, "InvoiceDetailHeaderIndicator")
    SubElement(head, "InvoiceDetailLineIndicator")
    if refund.get("reason"):
        SubElement(head, "Comments", {XML_LANG: "en"}).text = refund["reason"]
    order = SubElement(request, "InvoiceDetailOrder")
    reference = SubElement(SubElement(order, "InvoiceDetailOrderInfo"), "OrderReference",
                           orderID=erp_order_reference(refund))
    SubElement(reference, "DocumentReference", payloadID=refund["order_id"])
    subtotal = Decimal(0)
    for number, line in enumerate(refund.get("lines") or [], start=1):
        amount = Decimal(str(line["amount"]["shop"]["amount"]))
        subtotal += amount
        item = SubElement(order, "InvoiceDetailItem", invoiceLineNumber=str(number),
                          quantity=str(-line["quantity"]))
        SubElement(item, "UnitOfMeasure").text = "EA"
        unit = amount / line["quantity"] if line["quantity"] else amount
        _negative_money(item, "UnitPrice", unit, currency)
        ref = SubElement(item, "InvoiceDetailItemReference", lineNumber=str(number))
        SubElement(SubElement(ref, "ItemID"), "SupplierPartID").text = line.get("sku") or "NO-SKU"
        _negative_money(item, "SubtotalAmount", amount, currency)
    summary = SubElement(request, "InvoiceDetailSummary")
    _negative_money(summary, "SubtotalAmount", subtotal, currency)
    for tag, name in (("Tax", "tax"), ("ShippingAmount", "shipping")):
        part = refund.get(name)
        _negative_money(summary, tag, part["shop"]["amount"] if part else 0, currency)
    _negative_money(summary, "NetAmount", refund["total"]["shop"]["amount"], currency)
    clean_tree(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8",
                                                                   xml_declaration=False)


def read_credit_memo(data: bytes) -> dict[str, Any]:
    """The essentials of a cXML credit memo: payload id, memo and order ids, net amount, lines.

    Raises:
        FormatError: not well-formed or unsafe XML, not an InvoiceDetailRequest of purpose
            creditMemo, no NetAmount, or an item whose quantity is not a whole number.
    """
    root = parse(data)
    head = root.find("Request/InvoiceDetailRequest/InvoiceDetailRequestHeader")
    net = root.find("Request/InvoiceDetailRequest/InvoiceDetailSummary/NetAmount/Money")
    if head is None or head.get("purpose") != "creditMemo" or net is None:
        raise FormatError("not a cXML credit memo: InvoiceDetailRequestHeader purpose=creditMemo "
                          "or InvoiceDetailSummary/NetAmount missing")
    order = root.find("Request/InvoiceDetailRequest/InvoiceDetailOrder/InvoiceDetailOrderInfo/OrderReference")
    try:
        lines = [{"quantity": int(item.get("quantity", "0")),
                  "sku": item.findtext("InvoiceDetailItemReference/ItemID/SupplierPartID"),
                  "amount": item.findtext("SubtotalAmount/Money")}
                 for item in root.iter("InvoiceDetailItem")]
    except ValueError as exc:
        raise FormatError("not a cXML credit memo: an item's quantity is not a whole number") from exc
    summary = "Request/InvoiceDetailRequest/InvoiceDetailSummary/"
    return {"payload_id": root.get("payloadID"), "credit_memo_id": head.get("invoiceID"),
            "order_id": None if order is None else order.get("orderID"),
            "net_amount": net.text, "currency": net.get("currency"),
            "tax": root.findtext(summary + "Tax/Money"),
            "shipping": root.findtext(summary + "ShippingAmount/Money"),
            "comments": head.findtext("Comments"), "lines": lines}
