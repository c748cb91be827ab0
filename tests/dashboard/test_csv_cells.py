"""The one CSV-escaping rule (``wallets.csv_cells.csv_safe_text``), decision by decision."""

import pytest

from wallets.csv_cells import csv_safe_text


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "=HYPERLINK(\"http://x\")"])
def test_formula_starts_are_prefixed(text):
    assert csv_safe_text(text) == "'" + text


@pytest.mark.parametrize("text", [" =1+1", "   @SUM(A1)", "\n=1+1", "\r\n+1", "\u00a0-1", "\u3000=1"])
def test_whitespace_before_a_formula_does_not_hide_it(text):
    assert csv_safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["\tplain", "\rplain", "\t", "\r"])
def test_a_leading_tab_or_cr_is_always_prefixed(text):
    assert csv_safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["＝1+1", "＋1", "－1", "＠SUM(A1)", " ＝1", "﹦1", "﹢1", "﹣1", "﹫x"])
def test_full_width_and_small_look_alikes_count_as_formula_starts(text):
    assert csv_safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["Ann Lee", " leading space", "\nline feed first", "two\nlines",
                                  "a=b", "ann@example.com", "5-3", "", "   ", "\n", "'quoted"])
def test_everything_else_is_left_exactly_as_it_was(text):
    assert csv_safe_text(text) == text


def test_none_and_non_text():
    assert csv_safe_text(None) == ""
    assert csv_safe_text(-5) == "'-5"  # only typed text goes through here; numbers are written as numbers
    assert csv_safe_text(42) == "42"


def test_the_dashboard_exports_and_the_report_use_the_one_function():
    from wallets.dashboard import csv_export
    from wallets.dashboard.views import ledger, low_balance
    from wallets.management.commands import low_balance_report

    for module in (ledger, low_balance, low_balance_report):
        assert module.csv_safe_text is csv_safe_text
    assert not hasattr(csv_export, "safe_text")
    assert not hasattr(csv_export, "_FORMULA_STARTS")
