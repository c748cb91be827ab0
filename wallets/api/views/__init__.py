"""The Dodo-compatible REST API, one small viewset per resource. Views parse, call a service or
selector, and render; paging is ``DodoPagination``, filtering the FilterSets of ``wallets.filters``."""

from wallets.api.views.customers import CustomerViewSet
from wallets.api.views.ledger_entries import LedgerEntryViewSet
from wallets.api.views.wallets import WalletViewSet

__all__ = ["CustomerViewSet", "LedgerEntryViewSet", "WalletViewSet"]
