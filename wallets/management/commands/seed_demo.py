import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from wallets.exceptions import InvalidInput
from wallets.management.base import WalletsCommand
from wallets.management.demo import FALLBACK_SOURCE, demo_seed
from wallets.models import WebhookEndpoint
from wallets.services.webhooks import endpoint_create

# The operator's login for /admin/ on a local demo (the admin is for superusers only). Published,
# like the dashboard users' passwords: DEBUG only.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password-123"


def demo_admin() -> tuple[bool, str]:
    """Create the demo superuser unless a user of that name exists (never changed then).
    Returns (usable, warning): usable when its password is the published one and it is a superuser."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user_model.objects.create_superuser(username=ADMIN_USERNAME, email="admin@demo.invalid",
                                            password=ADMIN_PASSWORD)
        return True, ""
    if not (user.is_superuser and user.is_staff and user.is_active):
        return False, "  (this user exists and is not an active superuser; left as is)"
    if not user.check_password(ADMIN_PASSWORD):
        return False, "  (this user's password was changed since; not reset)"
    return True, ""


def demo_webhook(business_id: str, url: str) -> tuple[WebhookEndpoint, bool]:
    """The demo business's endpoint at ``url``: made once, found on a rerun."""
    found = WebhookEndpoint.objects.filter(business_id=business_id, url=url).first()
    if found is not None:
        return found, False
    try:
        return endpoint_create(business_id=business_id, url=url, description="Demo inbox (webhook_inbox)"), True
    except InvalidInput as exc:
        raise CommandError(f"--webhook-url {url!r}: {'; '.join(m for ms in exc.errors.values() for m in ms)}") from None


class Command(WalletsCommand):
    help = """\
Fill a local install with demo data: the business "Demo Shop", dashboard users (operator,
viewer, approver), an admin superuser for /admin/, a read-write API key and 40 customers
with a few months of history in USD, INR, EUR, JPY and KWD (deposits, welcome bonuses,
refunds to wallet, usage charges; some wallets end low), then a few expiring grants (one
already expired and swept), an active hold, a payment from the wallet, a refund and a partial
reversal, all through the ledger engine. Prints the credentials.

The credentials are fixed, published demo values, and the same on every run: the command runs
again safely and then changes nothing. Because anyone can read them, it refuses to run unless
DJANGO_DEBUG is on; --force overrides that (never on a server others can reach).

A real installation makes its admin with "python manage.py createsuperuser" instead.

With --webhook-url, the demo business also gets a webhook endpoint at that URL (once; the
README's run command points it at "python manage.py webhook_inbox"), so every movement made
afterwards, in the dashboard or through the API, is delivered there.

Examples:
  python manage.py seed_demo
  python manage.py seed_demo --webhook-url http://127.0.0.1:8765/webhooks
  DJANGO_DEBUG=false python manage.py seed_demo --force
"""

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true",
                            help="Run even when DEBUG is off (the demo credentials are public).")
        parser.add_argument("--webhook-url", help="Give the demo business a webhook endpoint at this URL.")

    def handle(self, *args, force: bool, webhook_url: str | None = None, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users and an API key whose secrets are published; it runs only with "
                "DJANGO_DEBUG=true. Use --force to run it anyway on a private machine."
            )
        result = demo_seed()
        admin_usable, admin_warning = demo_admin()
        out, style = self.stdout, self.style
        business = result.business
        if result.customers_created or result.entries_posted or result.business_created:
            out.write(style.SUCCESS(
                f"Demo data for {business.name} ({business.id}): {result.customers} customers "
                f"({result.customers_created} new), {result.entries_posted} ledger entries posted."
            ))
        else:
            out.write(style.SUCCESS(
                f"Demo data for {business.name} ({business.id}) is already in place: {result.customers} customers, "
                f"{result.entries_already_there} ledger entries; nothing changed."
            ))
        for currency in result.rates_added:
            out.write(f"Added an exchange rate for {currency} ({FALLBACK_SOURCE}).")
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        out.write("")
        out.write(style.MIGRATE_HEADING(f"Dashboard: {base}/dashboard/  (demo credentials, local use only)"))
        for user in result.users:
            line = f"  {user.role:9} {user.username} / {user.password}"
            if not user.password_matches:
                line += style.WARNING("  (this user's password was changed since; not reset)")
            if user.other_business:
                line += style.WARNING(f"  (already a member of {user.other_business}; left as is)")
            out.write(line)
        out.write("")
        out.write(style.MIGRATE_HEADING(f"Admin: {base}/admin/  (superuser, demo credentials, local use only;"
                                        " on a real installation: python manage.py createsuperuser)"))
        out.write(f"  superuser {ADMIN_USERNAME} / {ADMIN_PASSWORD}" + (style.WARNING(admin_warning)
                                                                       if not admin_usable else ""))
        out.write("")
        out.write(style.MIGRATE_HEADING("API key (read-write, demo only):"))
        out.write(f"  {result.api_key}")
        if result.api_key_revoked:
            out.write(style.WARNING("  This demo key was revoked and stays revoked; "
                                    f'create another with: python manage.py create_api_key "{business.name}"'))
        out.write(f'  curl -H "Authorization: Bearer {result.api_key}" {base}/customers')
        if webhook_url:
            endpoint, created = demo_webhook(business.id, webhook_url)
            out.write("")
            out.write(style.MIGRATE_HEADING(f"Webhooks: {endpoint.url} ({'added' if created else 'already there'}; "
                                            f"{base}/dashboard/webhooks/)"))
