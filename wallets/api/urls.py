from rest_framework.routers import SimpleRouter

from wallets.api.views import CustomerViewSet

router = SimpleRouter(trailing_slash=False)
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
