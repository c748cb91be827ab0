"""Webhooks: events about wallets, delivered to the merchant's endpoints (API-NOTES, "Webhooks").

The modules, one job each:
- ``outbox``: the events of a ledger step, written by the engine in the step's own transaction;
- ``render``: an event's envelope, Dodo's ``{business_id, type, timestamp, data}``;
- ``signing``: secrets and Standard Webhooks signatures;
- ``targets``: where a URL may be delivered to (the SSRF rule), checked at every attempt;
- ``dispatch``: the worker's fan-out of new events to the endpoints that want them;
- ``delivery``: the attempts, on Dodo's retry schedule;
- ``runway``: the ``wallet.runway_low`` checks.
"""
