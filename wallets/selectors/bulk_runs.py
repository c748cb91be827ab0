"""Reads of the dashboard's bulk credit runs, scoped to a business."""

from django.db.models import QuerySet

from wallets.models import BulkCreditRun


def bulk_run_list(*, business_id: str) -> QuerySet[BulkCreditRun]:
    """The business's runs, newest first, without the file and the row lists (a list needs neither)."""
    return (BulkCreditRun.objects.filter(business_id=business_id).defer("data", "preview", "result")
            .order_by("-created_at", "-id"))


def bulk_run_find(*, business_id: str, run_id: str, with_rows: bool = True) -> BulkCreditRun | None:
    """One run of the business (``None`` for another business's); ``with_rows``: its preview and result."""
    runs = BulkCreditRun.objects.filter(business_id=business_id, pk=run_id).defer("data")
    if not with_rows:
        runs = runs.defer("data", "preview", "result")
    return runs.first()
