"""Which tenants (shops, stores, sites) an edge accepts deliveries for, and their secrets.

A tenant is configured per platform by its domain (``hanako-tea.myshopify.com``, a WooCommerce
site's host, a BigCommerce store id), with its own signing secret or none (then the platform's
app secret applies). A delivery naming a tenant that is not configured is refused with
:class:`~bus.errors.Forbidden` (403) before anything is produced; where the platform names the
tenant in a header, that happens before the signature is checked, so the tenant's own secret can
be the one checked.

A platform whose deliveries do not sign the tenant's name (Shopify's ``X-Shopify-Shop-Domain``
header is outside the HMAC) can only tell shops sharing one app secret apart by what the signed
body says: give each shop its own secret (a custom app per shop) where that matters.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from bus.errors import Forbidden


class Tenant(BaseModel):
    """One accepted tenant.

    Attributes:
        platform: ``shopify``, ``woocommerce``, ``bigcommerce``, ...
        domain: the tenant as the platform names it (compared case-insensitively).
        secret: its own signing secret; None uses the platform's app secret.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str
    domain: str
    secret: SecretStr | None = None

    @field_validator("platform", "domain")
    @classmethod
    def _lower(cls, value: str) -> str:
        value = value.strip().lower()
        if not value:
            raise ValueError("must not be empty")
        return value


class Tenants:
    """The accepted tenants of one edge.

    Args:
        tenants: the configured tenants.
        setting: the setting that lists them, named in refusals so an operator knows what to add.
    """

    def __init__(self, tenants: Iterable[Tenant], setting: str) -> None:
        self._by_key = {(t.platform, t.domain): t for t in tenants}
        self.setting = setting

    def require(self, platform: str, domain: str | None, where: str) -> Tenant:
        """The configured tenant ``domain`` of ``platform``.

        Args:
            where: what named the tenant (a header, a body field), for the refusal's message.

        Raises:
            Forbidden: no such tenant is configured (the message names ``where`` and the
                setting, not the value).
        """
        found = self._by_key.get((platform, (domain or "").strip().lower()))
        if found is None:
            raise Forbidden(f"{where} names a {platform} tenant that is not configured here "
                            f"(add it to {self.setting})" if domain else f"{where} is missing")
        return found

    def __len__(self) -> int:
        return len(self._by_key)
