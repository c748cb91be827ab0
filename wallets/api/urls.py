from rest_framework.routers import SimpleRouter

from wallets.api.views import CustomerViewSet, LedgerEntryViewSet, WalletViewSet
from wallets.api.views.base import ID_REGEX
from wallets.api.views.holds import HoldViewSet
from wallets.api.views.payments import PaymentViewSet
from wallets.api.views.webhooks import WebhookViewSet

CUSTOMER = f"customers/(?P<customer_id>{ID_REGEX})"

router = SimpleRouter(trailing_slash=False)
router.register("customers", CustomerViewSet, basename="customer")
router.register(f"{CUSTOMER}/wallets/ledger-entries", LedgerEntryViewSet, basename="customer-ledger-entry")
router.register(f"{CUSTOMER}/wallets/holds", HoldViewSet, basename="customer-wallet-hold")
router.register(f"{CUSTOMER}/wallets/payments", PaymentViewSet, basename="customer-wallet-payment")
router.register(f"{CUSTOMER}/wallets", WalletViewSet, basename="customer-wallet")
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = router.urls
