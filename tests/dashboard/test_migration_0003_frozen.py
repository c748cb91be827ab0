"""Migration 0003 is frozen: it imports no live code (issue 9 item 3) and loads exactly the
snapshot that the live constants describe today."""

import ast
import csv
import datetime
import importlib
import pathlib
from decimal import Decimal

from wallets.services.exchange_rates import SNAPSHOT_PATH, SNAPSHOT_SOURCE

MIGRATION = pathlib.Path(__file__).resolve().parents[2] / "wallets/migrations/0003_exchange_rate_snapshot.py"


def test_it_imports_only_django_and_the_standard_library():
    modules = set()
    for node in ast.walk(ast.parse(MIGRATION.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
    assert {m.split(".")[0] for m in modules} <= {"datetime", "decimal", "django"}, modules
    assert "open(" not in MIGRATION.read_text(encoding="utf-8")  # reads no file either


def _frozen_rows(migration):
    return {(c, Decimal(rate), datetime.date.fromisoformat(as_of)) for c, rate, as_of in migration.SNAPSHOT_RATES}


def test_its_rows_are_the_snapshot_it_was_frozen_from():
    """Frozen from what it loaded through the live names: the same rows and source label. Once the
    live snapshot is replaced (a new source label), this comparison is meant to go; the migration
    keeps its rows whatever the live file says."""
    migration = importlib.import_module("wallets.migrations.0003_exchange_rate_snapshot")
    if migration.SNAPSHOT_SOURCE == SNAPSHOT_SOURCE:
        with open(SNAPSHOT_PATH, newline="", encoding="utf-8") as handle:
            rows = {(r["currency"], Decimal(r["rate_to_usd"]), datetime.date.fromisoformat(r["as_of"]))
                    for r in csv.DictReader(handle)}
        assert _frozen_rows(migration) == rows
    assert len(migration.SNAPSHOT_RATES) == len(_frozen_rows(migration)) == 145


def test_running_it_loads_the_snapshot_and_reversing_it_removes_it(db):
    """Its effect, run on this database (other tests may have flushed the migrated rows)."""
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from wallets.models import ExchangeRate

    migration = importlib.import_module("wallets.migrations.0003_exchange_rate_snapshot")
    editor = SimpleNamespace(connection=connection)
    migration.unload_snapshot(apps, editor)
    assert not ExchangeRate.objects.filter(source=migration.SNAPSHOT_SOURCE).exists()
    migration.load_snapshot(apps, editor)
    migration.load_snapshot(apps, editor)  # twice: conflicts are ignored, as before
    loaded = list(ExchangeRate.objects.filter(source=migration.SNAPSHOT_SOURCE)
                  .values_list("currency", "rate_to_usd", "as_of"))
    assert sorted(loaded) == sorted(_frozen_rows(migration))
