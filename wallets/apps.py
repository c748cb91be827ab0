from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wallets import audit  # noqa: F401 - connects the security audit log to Django's auth signals
