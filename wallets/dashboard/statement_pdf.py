"""A customer's statement as a PDF that reads like a bank statement, laid out by WeasyPrint from a
Django template (``templates/dashboard/statement_pdf.html``).

WeasyPrint lays the whole document out in memory, at a few milliseconds per row on one core, so a
PDF is bounded: above ``MAX_ENTRIES`` entries the view refuses it and points to the CSV (which
streams any length). The document loads nothing from outside: its CSS is inline and every URL it
might name (an ``<img>`` smuggled into a reason is escaped anyway) is refused by the fetcher.
"""

import datetime

from django.template.loader import render_to_string

# About 13 A4 pages: measured at 2.6 s of layout on the shared two-core machine at load 5, and 7 to
# 9 s at load 10 (docs/bench-results.md): the most one request may cost. Layout time grows with the
# rows (~8 ms each, the repeated header and "Page N of M" lay the document out twice); a customer's
# month of tens of entries takes 0.25 s and more, most of it WeasyPrint's fixed cost.
MAX_ENTRIES = 300


def statement_html(context: dict) -> str:
    return render_to_string("dashboard/statement_pdf.html", context)


def statement_pdf(context: dict) -> bytes:
    """The PDF's bytes. ``context``: business, customer, statement, entries (at most
    ``MAX_ENTRIES``), period_from / period_to (dates or None), time_zone, generated_at."""
    from weasyprint import HTML  # imported on use: it loads Pango, which no other page needs
    from weasyprint.urls import URLFetcher

    html = statement_html(context)
    nothing_allowed = URLFetcher(allowed_protocols=[])  # no scheme at all: no file, no network
    return HTML(string=html, url_fetcher=nothing_allowed).write_pdf()


def generated_stamp(now: datetime.datetime) -> str:
    """The file name's stamp (UTC)."""
    return now.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M%S")
