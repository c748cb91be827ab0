"""What the project's management commands share: help that keeps its line breaks (examples), and
Ctrl-C answered with a line and exit status 130 rather than a traceback."""

from argparse import ArgumentTypeError, RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import DatabaseError

from wallets.exceptions import raised_during_interrupt
from wallets.models import Business


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's order of arguments, with the description printed as written."""


#: The shell's status for a program ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class WalletsCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def execute(self, *args, **options):
        """Ctrl-C ends the command with "Interrupted" and status 130. Every change a command makes
        is a database transaction, so the one under way is rolled back (or, if the interrupt came
        during its COMMIT, may be committed): what is written is whole either way."""
        try:
            return super().execute(*args, **options)
        except (KeyboardInterrupt, DatabaseError) as exc:
            if isinstance(exc, DatabaseError) and not raised_during_interrupt(exc):
                raise
            raise CommandError("Interrupted (Ctrl-C).", returncode=EXIT_INTERRUPTED) from None


def business_or_error(business_id: str) -> Business:
    business = Business.objects.filter(id=business_id.strip()).first()
    if business is None:
        known = ", ".join(f"{b.id} ({b.name})" for b in Business.objects.order_by("name")[:10]) or "none yet"
        raise CommandError(f"No business with the id {business_id!r}. Businesses: {known}.")
    return business


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"expected a whole number of minor units, got {text!r}") from None
    if value < 0:
        raise ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
