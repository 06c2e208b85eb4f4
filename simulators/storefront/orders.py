"""Shopify-shaped orders in several currencies and scripts, generated deterministically.

Each profile is a customer from somewhere with the shop and presentment currencies a store there
would use and a product list with exact prices; amounts are computed with Decimal and rounded to
the currency's minor units (JPY none, KWD three), so totals always add up.

=======  ==========================  ===============================================
profile  currencies (shop/customer)  text
=======  ==========================  ===============================================
jp       USD / JPY                   Japanese name, address with full-width digits and U+2212
de       EUR                         German umlauts and ß
cn       CNY                         Chinese name and address
kw       KWD (three decimals)        Arabic name and address
us       USD                         plain ASCII
=======  ==========================  ===============================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bus.contracts.money import minor_units
from simulators import fixture


@dataclass(frozen=True)
class Profile:
    shop_currency: str
    presentment_currency: str
    rate: Decimal
    first_name: str
    last_name: str
    email: str
    phone: str
    address1: str
    address2: str | None
    city: str
    province: str | None
    zip: str
    country_code: str
    locale: str
    products: tuple[tuple[str, str, str], ...]
    """(sku, title, unit price in the shop currency)."""


PROFILES: dict[str, Profile] = {
    "jp": Profile(
        "USD", "JPY", Decimal("149"), "太郎", "山田", "taro.yamada@example.jp", "+81-6-1234-5678",
        "梅田\uff13丁目1\u22121", "グランフロント北館\uff11\uff12\uff26", "大阪市北区", "大阪府", "530-0001",
        "JP", "ja", (("HOJICHA-100G", "ほうじ茶 100g", "12.50"), ("BOWL-CHAWAN", "抹茶碗「黒楽」", "48.00"))),
    "de": Profile(
        "EUR", "EUR", Decimal("1"), "Jürgen", "Groß", "juergen.gross@example.de", "+49 211 987654",
        "Königsallee 12", "Hinterhaus, 3. OG", "Düsseldorf", "NW", "40212", "DE", "de",
        (("SENCHA-80G", "Grüner Tee Sencha 80 g", "9.90"), ("WHISK-BAMBOO", "Bambusbesen", "24.00"))),
    "cn": Profile(
        "CNY", "CNY", Decimal("1"), "芳", "王", "wang.fang@example.cn", "+86 21 5555 0100",
        "浦东新区世纪大道100号", "环球金融中心 58楼", "上海市", "上海市", "200120", "CN", "zh-CN",
        (("LONGJING-50G", "西湖龙井 50克", "168.00"), ("MATCHA-40G", "抹茶粉 40克", "128.50"))),
    "kw": Profile(
        "KWD", "KWD", Decimal("1"), "فاطمة", "العلي", "fatima.alali@example.kw", "+965 2222 3333",
        "شارع الخليج العربي، قطعة 5", None, "مدينة الكويت", "العاصمة", "13001", "KW", "ar",
        (("MATCHA-40G", "شاي ماتشا 40 غ", "4.250"), ("YUZU-SOAP", "صابون اليوزو", "1.875"))),
    "us": Profile(
        "USD", "USD", Decimal("1"), "Ada", "Lovelace", "ada@example.com", "+1 415 555 0100",
        "500 Howard St", "Suite 4", "San Francisco", "CA", "94105", "US", "en",
        (("MATCHA-40G", "Matcha 40g", "17.80"), ("WHISK-BAMBOO", "Bamboo whisk", "24.00"))),
}

TAX_RATE = Decimal("0.085")
FIRST_ORDER_ID = 6120010000


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to ``currency``'s minor units."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


def _money_set(shop: Decimal, profile: Profile) -> dict[str, Any]:
    presentment = quantize(shop * profile.rate, profile.presentment_currency)
    return {"shop_money": {"amount": str(shop), "currency_code": profile.shop_currency},
            "presentment_money": {"amount": str(presentment), "currency_code": profile.presentment_currency}}


def _address(profile: Profile, with_phone: bool = True) -> dict[str, Any]:
    address = {"first_name": profile.first_name, "last_name": profile.last_name, "address1": profile.address1,
               "address2": profile.address2, "city": profile.city, "province": profile.province,
               "zip": profile.zip, "country_code": profile.country_code}
    return {**address, "phone": profile.phone} if with_phone else address


def generated_order(number: int, profile_name: str, now: datetime | None = None) -> dict[str, Any]:
    """Order ``#number`` of a customer of the given profile, as Shopify's webhook body has it."""
    profile = PROFILES[profile_name]
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    lines, subtotal = [], Decimal(0)
    for i, (sku, title, price) in enumerate(profile.products):
        quantity = 1 + (number + i) % 3
        unit = quantize(Decimal(price), profile.shop_currency)
        subtotal += unit * quantity
        lines.append({"id": 14000000 + number * 10 + i, "sku": sku, "title": title, "quantity": quantity,
                      "price": str(unit), "price_set": _money_set(unit, profile)})
    tax = quantize(subtotal * TAX_RATE, profile.shop_currency)
    zero = quantize(Decimal(0), profile.shop_currency)
    total = subtotal + tax
    return {
        "id": FIRST_ORDER_ID + number, "name": f"#{number}", "email": profile.email,
        "currency": profile.shop_currency, "presentment_currency": profile.presentment_currency,
        "subtotal_price": str(subtotal), "total_tax": str(tax), "total_discounts": str(zero),
        "total_price": str(total), "subtotal_price_set": _money_set(subtotal, profile),
        "total_tax_set": _money_set(tax, profile), "total_discounts_set": _money_set(zero, profile),
        "total_shipping_price_set": _money_set(zero, profile), "total_price_set": _money_set(total, profile),
        "created_at": at, "updated_at": at, "financial_status": "paid", "fulfillment_status": None,
        "customer_locale": profile.locale,
        "customer": {"id": 7400000 + number, "email": profile.email, "first_name": profile.first_name,
                     "last_name": profile.last_name, "phone": profile.phone},
        "shipping_address": _address(profile), "billing_address": _address(profile, with_phone=False),
        "line_items": lines,
    }


def fixture_order(name: str) -> dict[str, Any]:
    """A fixture's order as a dict (for the store's own records; webhooks send the exact bytes)."""
    return json.loads(fixture(name))
