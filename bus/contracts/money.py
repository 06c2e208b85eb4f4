"""Currencies of the Money contract: ISO 4217 codes and their minor units, in one place.

:class:`~bus.contracts.models.Money` carries an amount exact to four decimal places and an ISO
4217 code. How many decimals an amount has *as the outside world writes it* depends on the
currency: most have 2, JPY and KRW none, BHD/JOD/KWD/OMR/TND three. Everything that formats,
rounds or generates amounts asks :func:`minor_units`; everything that checks a code asks
:data:`ISO_4217`.
"""

from __future__ import annotations

_ACTIVE_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ACTIVE_CODES.split())
"""Active ISO 4217 alphabetic codes (funds and precious metals included)."""

DEFAULT_MINOR_UNITS = 2
"""Decimals of every currency not listed in :data:`MINOR_UNITS`."""

MINOR_UNITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}
"""ISO 4217 currencies whose minor units differ from :data:`DEFAULT_MINOR_UNITS`."""


def minor_units(currency: str) -> int:
    """Decimals of ``currency`` (any case): 0 for JPY, 3 for KWD, 2 unless listed in :data:`MINOR_UNITS`."""
    return MINOR_UNITS.get(currency.upper(), DEFAULT_MINOR_UNITS)


__all__ = ["DEFAULT_MINOR_UNITS", "ISO_4217", "MINOR_UNITS", "minor_units"]
