from django.urls import path

from wallets.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/<str:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<str:customer_id>/adjust/", views.customer_adjust, name="customer_adjust"),
    path("ledger/", views.ledger, name="ledger"),
    path("ledger/export.csv", views.ledger_export, name="ledger_export"),
    path("wallets/low-balance/", views.low_balance, name="low_balance"),
    path("wallets/low-balance/export.csv", views.low_balance_export, name="low_balance_export"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<str:request_id>/decide/", views.approval_decide, name="approval_decide"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/time-zone/", views.set_time_zone, name="time_zone"),
    path("business/", views.switch_business, name="switch_business"),
]
