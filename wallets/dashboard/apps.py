from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "wallets.dashboard"
    label = "dashboard"
    verbose_name = "Finance dashboard"
