from django.core.management.base import CommandError

from wallets.management.base import WalletsCommand
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, business_get_or_create


class Command(WalletsCommand):
    help = """\
Create an API key for a business (the business is created if it does not exist). The key is
printed once, alone on the last line of standard output; only its hash is stored.

Examples:
  python manage.py create_api_key "Acme Inc" --name "billing backend"
  python manage.py create_api_key "Acme Inc" --name "reporting" --read-only
"""

    def add_arguments(self, parser):
        parser.add_argument("business_name", help='The business\'s name, e.g. "Acme Inc".')
        parser.add_argument("--name", default="", help="A label for the key, e.g. the system that will use it.")
        parser.add_argument("--read-only", action="store_true", help="The key may read but not write (403).")

    def handle(self, *args, business_name: str, name: str, read_only: bool, **options):
        business_name = business_name.strip()
        if not business_name:
            raise CommandError("The business name must not be empty.")
        business, created = business_get_or_create(name=business_name)
        api_key, raw_key = api_key_create(business=business, name=name, read_only=read_only,
                                          actor=Actor.command("create_api_key"))
        verb = "Created business" if created else "Business"
        self.stderr.write(f"{verb} {business.name} ({business.id})")
        self.stderr.write(
            f"API key {api_key.id} ({'read-only' if read_only else 'read-write'}); store it now, it is not shown again:"
        )
        self.stdout.write(raw_key)
