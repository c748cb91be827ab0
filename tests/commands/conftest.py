"""Fixtures for the command tests (helpers are in ``helpers.py``)."""

import pytest

from tests.commands.helpers import HEADER, csv_text


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(rows, header=...)`` -> the path of a new CSV file; ``rows`` may also be raw text or bytes."""
    counter = {"n": 0}

    def write(rows, header=HEADER):
        counter["n"] += 1
        path = tmp_path / f"bulk_{counter['n']}.csv"
        if isinstance(rows, bytes):
            path.write_bytes(rows)
        elif isinstance(rows, str):
            path.write_text(rows, encoding="utf-8")
        else:
            path.write_text(csv_text(rows, header), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def customers(make_customer):
    """Five customers of the business (Acme), by email bulk1..bulk5@example.com."""
    return [make_customer(email=f"bulk{i}@example.com", name=f"Bulk customer {i}") for i in range(1, 6)]
