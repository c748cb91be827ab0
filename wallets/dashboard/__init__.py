"""The finance dashboard: server-rendered pages for a business's finance team.

Views stay thin: they resolve the business the user may see (``access``), read through
``wallets.selectors`` and the shared FilterSets, and change money only through the domain's
adjustment flow (``wallets.adjustments``, which calls ``wallets.services.approvals``). Every view
needs a login; every write checks the role on the server.
"""
