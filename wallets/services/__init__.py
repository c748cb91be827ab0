"""The service layer: the writers other than the ledger engine (customers, keys, approvals …).

Money moves only through ``wallets.ledger`` (``post`` / ``post_many``), which services call.
A public service function owns its transaction (``atomic(durable=True)``) unless its name ends in
``_in_transaction``; callers do not wrap them in their own.
"""

from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.customers import customer_create, customer_update
from wallets.services.exchange_rates import exchange_rates_load_csv

__all__ = [
    "Actor",
    "api_key_create",
    "api_key_revoke",
    "customer_create",
    "customer_update",
    "exchange_rates_load_csv",
]
