"""The service layer: the only code that writes balances, entries, customers or keys.

Each public function is one short transaction (``atomic(durable=True)``): callers never wrap
them in their own transaction. See ``ledger.py`` for the locking rule.
"""

from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.customers import customer_create, customer_update
from wallets.services.exchange_rates import exchange_rates_load_csv
from wallets.services.ledger import PostingResult, ledger_entry_post

__all__ = [
    "Actor",
    "PostingResult",
    "api_key_create",
    "api_key_revoke",
    "customer_create",
    "customer_update",
    "exchange_rates_load_csv",
    "ledger_entry_post",
]
