"""Server-side render time of every dashboard page (the ``pages`` phase).

The pages are discovered from ``wallets/dashboard/urls.py``, so a page added there is timed without
touching the benchmark: each URL's parameters are filled from the loaded data (the whale, customer 1,
with most of the entries; an ordinary customer; one of their entries; a hold; and whatever webhook
endpoint, event, delivery or approval request exists). A route whose parameter has no such row is
reported as skipped, with the reason; a route that answers GET with 405 (POST only) or a redirect is
reported as "not a page". Every other route is requested over HTTP on the bench's gunicorn and its
server-side time (gunicorn's ``%(D)s``) summarised as p50/p95/p99, with the SQL statements per
request (``pg_stat_statements``).

The statement's three forms are timed beside the plain routes: the page, the CSV and the PDF, over
a bounded range (a day of the whale; an ordinary customer's whole history; and a customer with
exactly as many entries as a PDF may hold, the PDF's worst case). Held to the target (< 300 ms):
every page and the ordinary customer's statement CSV; not held to it, and said so: the exports
that stream every row (the whole ledger's CSV, the whale's whole history), and the PDF at its cap.

The phase writes a little data, through the product's own engine, on rows no other phase uses:
a hold on the last customer, and the PDF customer's entries.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client

from bench import data
from bench.paths import _measure_get
from bench.pg import StatementCounter

TARGET_MS = 300
PDF_CUSTOMER_EMAIL = "statement-pdf@bench.example"


def whale_entry_id(sequence: int) -> str:
    """The id bench/data.py gives the whale's (customer 1, USD) entry ``sequence``."""
    return "wle_" + hashlib.md5(f"e1USD{sequence}".encode()).hexdigest()[:21]


def _prepare(run) -> dict:
    """Rows the pages need that the seed has not: a hold, and a customer with a PDF's worth of
    entries. Idempotent (a second run finds them)."""
    from wallets import ledger, services
    from wallets.dashboard.statement_pdf import MAX_ENTRIES
    from wallets.models import Customer, Hold
    from wallets.services.actors import Actor

    actor = Actor.command("bench-pages")
    last = data.customer_id(run.plan.sizes.customers)
    if not Hold.objects.filter(business_id=data.BUSINESS_ID, customer_id=last).exists():
        ledger.create_hold(business_id=data.BUSINESS_ID, customer_id=last, currency="USD", amount=10, actor=actor,
                           expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3),
                           reference_object_id="bench-pages")
    pdf_customer = Customer.objects.filter(business_id=data.BUSINESS_ID, email=PDF_CUSTOMER_EMAIL).first()
    if pdf_customer is None:
        pdf_customer, _ = services.customer_create(business_id=data.BUSINESS_ID, email=PDF_CUSTOMER_EMAIL,
                                                   name="Statement PDF")
        start = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)
        ledger.post_many(business_id=data.BUSINESS_ID, actor=actor, postings=[
            ledger.Posting(pdf_customer.pk, ledger.Request("USD", 1000 + i, i % 4 != 3 or i < 4, f"order {i}"),
                           created_at=start + datetime.timedelta(minutes=i))
            for i in range(MAX_ENTRIES)])
    return {"pdf_customer": pdf_customer.pk, "pdf_entries": MAX_ENTRIES}


def _parameter_values(run, prepared: dict) -> dict[str, tuple[str | None, str]]:
    """``{url parameter: (value or None, where it comes from)}``."""
    from wallets.models import AdjustmentRequest, Hold, WebhookDelivery, WebhookEndpoint

    bid = data.BUSINESS_ID
    hold = Hold.objects.filter(business_id=bid, status=Hold.Status.ACTIVE).order_by("id").first()
    request = AdjustmentRequest.objects.filter(business_id=bid).order_by("id").first()
    endpoint = WebhookEndpoint.objects.filter(business_id=bid).order_by("id").first()
    delivery = (WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").first()
                if endpoint is not None else None)
    middle = max(1, run.plan.sizes.whale_entries // 2)
    return {
        "customer_id": (data.customer_id(1), "the whale (customer 1)"),
        "entry_id": (whale_entry_id(middle), f"the whale's entry {middle}"),
        "hold_id": (hold.pk if hold else None, "active hold"),
        "request_id": (request.pk if request else None, "approval request"),
        "endpoint_id": (endpoint.pk if endpoint else None, "webhook endpoint"),
        "delivery_id": (delivery.pk if delivery else None, "webhook delivery"),
        "event_id": (delivery.event_id if delivery else None, "webhook event with a delivery"),
    }


def discover() -> list[tuple[str, list[str]]]:
    """Every named route of the dashboard with its URL parameters, in urls.py's order."""
    from wallets.dashboard import urls

    return [(pattern.name, list(pattern.pattern.regex.groupindex))
            for pattern in urls.urlpatterns if getattr(pattern, "name", None)]


def _probe(server, path: str, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def plan(run, prepared: dict) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """The requests to time, ``[(name, path, requests)]``, and the routes skipped with the reason."""
    from django.urls import reverse

    n = max(2, run.plan.read_requests // 4)  # smoke: two requests a page
    values = _parameter_values(run, prepared)
    ordinary = data.customer_id(2)
    timed: list[tuple[str, str, int]] = []
    skipped: dict[str, str] = {}
    for name, params in discover():
        missing = [p for p in params if p not in values or values[p][0] is None]
        if missing:
            skipped[name] = "no " + ", ".join(values[p][1] if p in values else p for p in missing) + " in the data"
            continue
        kwargs = {p: values[p][0] for p in params}
        if name == "customer_statement_pdf":  # the whale's whole history is over the cap: refused
            kwargs["customer_id"] = ordinary
        # A statement defaults to the customer's first currency (INR): the whale's history is USD.
        query = "?currency=USD" if name.startswith("customer_statement") else ""
        path = reverse(f"dashboard:{name}", kwargs=kwargs) + query
        # An export streams every row it selects (the whole ledger for ledger_export, the whale's
        # whole history): timed, but twice only, and not held to the pages' target; the ordinary
        # customer's statement CSV below is.
        timed.append((name, path, 2 if exempt(name) else n))
        if "customer_id" in params and name in ("customer", "customer_statement", "customer_statement_export"):
            timed.append((f"{name} (ordinary customer)",
                          reverse(f"dashboard:{name}", kwargs={**kwargs, "customer_id": ordinary}) + query, n))
    # The statement over bounded ranges: a day of the whale (the seed's entries are one a second
    # from 2025-01-01, so a day holds up to 86,400), and the PDF at its cap.
    whale = data.customer_id(1)
    day = "currency=USD&from_date=2025-01-01&to_date=2025-01-01"
    timed += [
        ("customer_statement, whale USD, 1 day",
         reverse("dashboard:customer_statement", kwargs={"customer_id": whale}) + f"?{day}", n),
        ("customer_statement, whale USD, 1 day, as of its end",
         reverse("dashboard:customer_statement", kwargs={"customer_id": whale}) + f"?{day}&as_of=2025-01-01", n),
        (f"customer_statement_pdf at its cap ({prepared['pdf_entries']} entries)",
         reverse("dashboard:customer_statement_pdf", kwargs={"customer_id": prepared["pdf_customer"]})
         + "?currency=USD", 1 if run.plan.mode == "smoke" else 3),
    ]
    return timed, skipped


def exempt(name: str) -> str | None:
    """Why a timed path is not held to the target (None: it is)."""
    if name.startswith("customer_statement_pdf at its cap"):
        return "the PDF's worst case, bounded by its cap"
    if name.endswith("_export"):  # the whole ledger, the whale's whole history …
        return "streams every row it selects"
    return None


def pages(run, server) -> dict:
    web = {"Cookie": f"sessionid={run.session_key}", "Host": "127.0.0.1"}
    prepared = _prepare(run)
    timed, skipped = plan(run, prepared)
    out: dict = {"target_ms": TARGET_MS, "skipped": skipped, "not_pages": {}, "pages": {}}
    counter = StatementCounter(run.cluster, "wallets_bench")
    try:
        for name, path, requests in timed:
            status = _probe(server, path, web)
            if status == 405 or status in (301, 302, 303):
                out["not_pages"][name] = f"GET answers {status} ({'POST only' if status == 405 else 'a redirect'})"
                continue
            try:
                out["pages"][name] = _measure_get(run, server, counter, f"page {name}", [path], headers=web,
                                                  requests=requests, warm=False)  # the probe warmed it
            except Exception as exc:  # reported, and the other pages still run
                out["pages"][name] = {"error": f"{type(exc).__name__}: {exc}", "path": path}
                run.void.append(f"page {name}: {exc}")
    finally:
        counter.close()
    p99s = {name: fig["server_ms"]["p99"] for name, fig in out["pages"].items() if fig.get("server_ms")}
    over = sorted(name for name, p99 in p99s.items() if p99 is not None and p99 >= TARGET_MS
                  and not exempt(name))
    out["over_target"] = over
    out["exempt"] = {name: why for name in out["pages"] if (why := exempt(name))}
    out["summary"] = (f"{len(out['pages'])} pages timed, {len(over)} over {TARGET_MS} ms p99, "
                      f"{len(skipped)} skipped (no data), {len(out['not_pages'])} not pages")
    return out
