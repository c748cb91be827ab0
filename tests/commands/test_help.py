"""Every command of this area explains itself: --help keeps its examples' line breaks."""

import pytest
from django.core.management import load_command_class

COMMANDS = ["bulk_credit", "reconcile_wallets", "low_balance_report", "seed_demo", "run_worker", "webhook_inbox",
            "create_api_key", "list_api_keys", "revoke_api_key", "load_exchange_rates", "rollup_ledger"]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples_on_their_own_lines(name):
    text = load_command_class("wallets", name).create_parser("manage.py", name).format_help()
    lines = text.splitlines()
    assert "Examples:" in lines
    assert any(line.startswith(f"  python manage.py {name}") for line in lines), text


def test_bulk_credit_help_documents_the_columns_and_exit_codes():
    text = load_command_class("wallets", "bulk_credit").create_parser("manage.py", "bulk_credit").format_help()
    for column in ("customer_id", "email", "amount", "currency", "reason", "idempotency_key", "entry_type"):
        assert f"\n  {column} " in text
    assert "Exit status: 0 every row posted or already done; 1 some rows rejected; 2 bad arguments" in text
    assert "bulk:<sha256 of the file>[:16]:<line>" in text


def test_low_balance_report_help_says_below_is_in_minor_units():
    text = load_command_class("wallets", "low_balance_report").create_parser("manage.py", "x").format_help()
    assert "--below is in MINOR units of the currency" in text
