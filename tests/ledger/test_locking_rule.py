"""The locking rule is checked here, not remembered (see ``wallets/ledger/locking.py``):
every row lock in the project's code is ``FOR NO KEY UPDATE``, and only the engine writes entries."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted(p for p in (ROOT / "wallets").rglob("*.py") if "migrations" not in p.parts)


def calls(path: Path, name: str):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
            yield node


def test_the_project_has_code_to_check():
    assert len(CODE) > 30
    assert any(calls(ROOT / "wallets/services/approvals.py", "select_for_update"))


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_select_for_update_takes_no_key(path):
    for call in calls(path, "select_for_update"):
        no_key = [k for k in call.keywords if k.arg == "no_key"]
        rule = f"{path.relative_to(ROOT)}:{call.lineno}: select_for_update(no_key=True) is the rule"
        assert no_key, rule
        assert isinstance(no_key[0].value, ast.Constant), rule
        assert no_key[0].value.value is True, rule


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_raw_sql_never_takes_a_full_row_lock(path):
    found = re.search(r"\bFOR\s+UPDATE\b", path.read_text())
    assert found is None, f"{path.relative_to(ROOT)}: FOR NO KEY UPDATE is the rule"


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_engine_inserts_entries_or_writes_balances(path):
    if path.parent.name == "ledger":
        return
    text = path.read_text()
    forbidden_texts = ("INSERT INTO wallets_ledgerentry", "LedgerEntry.objects.create",
                       "LedgerEntry.objects.bulk_create", "SET balance", "COPY wallets_ledgerentry")
    for forbidden in forbidden_texts:
        assert forbidden not in text, f"{path.relative_to(ROOT)} posts outside wallets/ledger/: {forbidden}"


SQL_HOME = {ROOT / "wallets/ledger/sql.py"}


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_raw_sql_lives_in_one_module(path):
    """The project's raw SQL is in ``wallets/ledger/sql.py``; other modules execute its statements."""
    if path in SQL_HOME:
        return
    text = path.read_text()
    for keyword in ("SELECT ", "INSERT INTO", "UPDATE wallets", "DELETE FROM", "WITH RECURSIVE", "COPY "):
        for literal in (node.value for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Constant)):
            if isinstance(literal, str) and keyword in literal and not _is_docstring_like(literal):
                pytest.fail(f"{path.relative_to(ROOT)}: raw SQL outside wallets/ledger/sql.py: {literal[:80]!r}")


def _is_docstring_like(text: str) -> bool:
    """Prose that mentions SQL (a docstring, a help text) rather than a statement."""
    return "``" in text or text.rstrip().endswith(".") or "\n\n" in text


def test_the_prior_entry_columns_follow_the_models_field_order():
    """``LedgerEntry.from_db`` reads a partial row in the model's field order."""
    from wallets.ledger import sql
    from wallets.models import LedgerEntry

    order = [f.attname for f in LedgerEntry._meta.concrete_fields]
    assert list(sql.PRIOR_COLUMNS) == sorted(sql.PRIOR_COLUMNS, key=order.index)
