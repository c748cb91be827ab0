"""The dashboard's pages, one module per page. Each view: resolve the business (``access``), read
through selectors and the shared FilterSets, render. Money changes only through the domain's
adjustment flow (``wallets.adjustments``) and the approvals service."""
