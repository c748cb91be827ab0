from django.core.management.base import CommandError

from wallets.management.base import WalletsCommand
from wallets.models import ApiKey
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_revoke


class Command(WalletsCommand):
    help = """\
Revoke an API key by its id (key_…) or its prefix (wsk_…). It fails from the next request on, in
every process.

Examples:
  python manage.py revoke_api_key key_TV52uJWWXt2yIoBBxpjaa
  python manage.py revoke_api_key wsk_3fQ9xK2a
"""

    def add_arguments(self, parser):
        parser.add_argument("key", help="The key's id (key_…) or the prefix shown by list_api_keys.")

    def handle(self, *args, key: str, **options):
        try:
            api_key = api_key_revoke(key_id=key.rstrip("…"), actor=Actor.command("revoke_api_key"))
        except ApiKey.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Revoked {api_key.id} ({api_key.prefix}…) of {api_key.business_id}."))
