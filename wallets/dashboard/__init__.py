"""The finance dashboard: server-rendered pages for a business's finance team.

Views stay thin: they resolve the business the user may see (``access``), read through
``wallets.selectors`` and the shared FilterSets (``wallets.filters``), and change money only
through the domain's adjustment flow (``wallets.adjustments``, which the admin uses too), which
posts or holds for approval through ``wallets.services.approvals``. Every view needs a login; every
write checks the role on the server.
"""
