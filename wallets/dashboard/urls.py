from django.urls import path

from wallets.dashboard.views import (
    approvals,
    customers,
    entries,
    holds,
    ledger,
    low_balance,
    overview,
    reports,
    settings,
    statements,
)

app_name = "dashboard"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("customers/", customers.customer_list, name="customers"),
    path("customers/<str:customer_id>/", customers.customer_detail, name="customer"),
    path("customers/<str:customer_id>/adjust/", customers.customer_adjust, name="customer_adjust"),
    path("customers/<str:customer_id>/entries/<str:entry_id>/", entries.entry_detail_page, name="entry"),
    path("customers/<str:customer_id>/entries/<str:entry_id>/reverse/", entries.entry_reverse, name="entry_reverse"),
    path("customers/<str:customer_id>/holds/<str:hold_id>/void/", holds.hold_void, name="hold_void"),
    path("reports/breakage/", reports.breakage, name="breakage"),
    path("reports/breakage/export.csv", reports.breakage_export, name="breakage_export"),
    path("customers/<str:customer_id>/statement/", statements.customer_statement, name="customer_statement"),
    path("customers/<str:customer_id>/statement.csv", statements.customer_statement_export,
         name="customer_statement_export"),
    path("ledger/", ledger.ledger, name="ledger"),
    path("ledger/export.csv", ledger.ledger_export, name="ledger_export"),
    path("wallets/low-balance/", low_balance.low_balance, name="low_balance"),
    path("wallets/low-balance/export.csv", low_balance.low_balance_export, name="low_balance_export"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("approvals/<str:request_id>/decide/", approvals.approval_decide, name="approval_decide"),
    path("settings/", settings.settings_page, name="settings"),
    path("settings/time-zone/", settings.set_time_zone, name="time_zone"),
    path("business/", settings.switch_business, name="switch_business"),
]
