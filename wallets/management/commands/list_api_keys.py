from wallets.management.base import WalletsCommand
from wallets.models import ApiKey


class Command(WalletsCommand):
    help = """\
List API keys (id, prefix, business, access, state). Secrets are never shown.

Examples:
  python manage.py list_api_keys
  python manage.py list_api_keys --business bus_TV52uJWWXt2yIoBBxpjaa --active
"""

    def add_arguments(self, parser):
        parser.add_argument("--business", help="Only this business id.")
        parser.add_argument("--active", action="store_true", help="Hide revoked keys.")

    def handle(self, *args, business: str | None, active: bool, **options):
        keys = ApiKey.objects.select_related("business").order_by("business__name", "created_at")
        if business:
            keys = keys.filter(business_id=business)
        if active:
            keys = keys.filter(revoked_at__isnull=True)
        rows = list(keys)
        if not rows:
            self.stdout.write("No API keys.")
            return
        self.stdout.write(f"{'id':26} {'prefix':14} {'access':10} {'state':28} business")
        for key in rows:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            access = "read-only" if key.read_only else "read-write"
            self.stdout.write(f"{key.id:26} {key.prefix + '…':14} {access:10} {state:28} {key.business.name} "
                              f"({key.business_id}){' — ' + key.name if key.name else ''}")
