"""Every CSV export of the dashboard starts with a UTF-8 byte-order mark (so Excel on Windows reads
"Müller", not "MÃ¼ller"); the dashboard's currency pickers list the business's currencies first."""

import re

import pytest
from django.urls import resolve, reverse

from wallets import ledger
from wallets.dashboard import csv_export
from wallets.dashboard.currencies import OTHER_GROUP, OWN_GROUP
from wallets.models import BulkCreditRun, CurrencyPolicy
from wallets.money import DODO_CURRENCIES
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def muller(business, make_customer):
    customer = make_customer(email="jm@example.com", name="Jürgen Müller")
    ledger.post(business_id=business.pk, customer_id=customer.pk, currency="EUR", amount=1999, is_credit=True,
                actor=Actor.command("test"), reason="Größe L")
    return customer


def _export_paths(customer) -> list[str]:
    return [
        reverse("dashboard:ledger_export"),
        reverse("dashboard:low_balance_export") + "?include_unused=1",
        reverse("dashboard:breakage_export"),
        reverse("dashboard:customer_statement_export", args=[customer.pk]) + "?currency=EUR",
        reverse("dashboard:bulk_run_report", args=[_bulk_run(customer).pk]),
        reverse("dashboard:settings_activity_export"),
        reverse("dashboard:analytics_export", args=["flows"]),
        reverse("dashboard:analytics_export", args=["top-customers"]),
    ]


def _bulk_run(customer) -> BulkCreditRun:
    """A bulk credit upload with a refused row (its error report is an export too)."""
    return BulkCreditRun.objects.get_or_create(business_id=customer.business_id, digest="e" * 64, defaults={
        "file_name": "bonus.csv", "data": b"-", "total_rows": 1,
        "preview": {"columns": ["email", "amount", "currency", "reason"], "rejections": [
            {"line": 2, "column": "amount", "reason": "bad amount", "estimate": False, "balance": None,
             "cells": {"email": customer.email, "amount": "x", "currency": "EUR", "reason": "Größe L"}}]}})[0]


def test_every_dashboard_csv_export_starts_with_a_byte_order_mark(operator_client, muller):
    from wallets.dashboard import urls

    # Every export route of the dashboard is in the list above (a new one must be added to it).
    exports = {p.name for p in urls.urlpatterns if str(p.pattern).endswith(".csv")}
    assert exports == {resolve(path.split("?")[0]).url_name for path in _export_paths(muller)}
    for path in _export_paths(muller):
        response = operator_client.get(path)
        assert response.status_code == 200, path
        raw = b"".join(response.streaming_content)
        assert raw.startswith(b"\xef\xbb\xbf"), path
        assert not raw[3:].startswith(b"\xef\xbb\xbf"), path  # once, not per chunk
        text = raw.decode("utf-8-sig")
        assert re.match(r"^[a-z_]+,", text), path  # the header follows the mark directly
        if "breakage" not in path and "activity" not in path and "flows" not in path:
            assert "Jürgen Müller" in text or "Größe L" in text, path
    assert csv_export.BOM == "\ufeff"


def _groups(html: str, select_id: str) -> list[tuple[str, list[str]]]:
    select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.DOTALL).group(1)
    return [(label, re.findall(r'<option value="([A-Z]{3})"', body))
            for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select, re.DOTALL)]


def test_currency_pickers_put_the_business_currencies_first(operator_client, business, muller):
    CurrencyPolicy.objects.create(business=business, currency="KWD", low_balance_below=1000)
    own = sorted({*{w.currency for w in muller.wallets.all()}, "KWD"})  # the default wallets, EUR and KWD
    pages = [(reverse("dashboard:ledger"), "id_currency"), (reverse("dashboard:low_balance"), "id_currency"),
             (reverse("dashboard:customer", args=[muller.pk]), "id_currency"),
             (reverse("dashboard:settings"), "id_add-currency")]
    for path, select_id in pages:
        html = operator_client.get(path).content.decode().replace("&#x27;", "'")
        select = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.DOTALL).group(1)
        assert select.count('<option value=""') == 1, path  # "Any currency" (or "Choose a currency") once
        groups = _groups(html, select_id)
        assert [label for label, _ in groups] == [OWN_GROUP, OTHER_GROUP], path
        assert groups[0][1] == own, path
        assert sorted(groups[0][1] + groups[1][1]) == sorted(DODO_CURRENCIES), path  # every code, once


def test_a_picked_currency_still_filters(operator_client, muller):
    response = operator_client.get(reverse("dashboard:ledger"), {"currency": "EUR"})
    assert 'data-testid="result-count">1<' in response.content.decode()
    assert operator_client.get(reverse("dashboard:ledger"), {"currency": "XXX"}).status_code == 200  # an error, shown
