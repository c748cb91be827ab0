from django.contrib.admin.apps import AdminConfig


class WalletsAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the operators-only site (``walletproject.admin``). The site
    lives outside ``wallets.admin`` as Django's docs show: importing it must not register models."""

    default_site = "walletproject.admin.OperatorAdminSite"
