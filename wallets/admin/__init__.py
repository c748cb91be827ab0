"""The Django admin, for the operator of the installation (superusers only, see ``walletproject.admin``): look up
anything, manage businesses, users and API keys. One module per model group:

- ``accounts``: businesses, users, memberships;
- ``customers``: customers, wallets and the ledger, read-only for everyone, superusers included
  (no add, change or delete); balances change only through the *adjust balance* page, which runs
  the domain's adjustment flow (``wallets.adjustments``: the dashboard's form, confirmation and
  policy), recorded with the admin user as the actor; the admin never imports the dashboard;
- ``api_keys``: keys created by ``api_key_create`` (shown once) and revoked by ``api_key_revoke``;
- ``policies``: exchange rates and per-currency policies;
- ``approvals``: held adjustments, decided through ``wallets.services.approvals``;
- ``movements``: holds, grants, grant draws and wallet payments, read-only;
- ``security``: the security audit log, read-only.

List pages join what they show (``list_select_related``, one prefetch), so their query count stays
flat as rows grow.
"""

from wallets.admin import accounts, api_keys, approvals, customers, movements, policies, security  # noqa: F401 - registers
