"""The admin site: for the operator of the whole installation only (superusers).

The admin sees every business (customers, ledgers, API keys, users), so it is not a place for a
business's own team: staff users who are not superusers are refused (a business member, staff or
not, works in the dashboard, which is scoped to their business). ``has_permission`` is checked by
every admin view, the login included.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError


class OperatorAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "not_operator": "The admin is for the installation's operators (superusers) only. "
                        "A business's team works in the dashboard.",
    }

    def confirm_login_allowed(self, user):
        if user.is_active and not user.is_superuser:
            raise ValidationError(self.error_messages["not_operator"], code="not_operator")
        super().confirm_login_allowed(user)


class OperatorAdminSite(admin.AdminSite):
    site_header = "Wallets administration"
    site_title = "Wallets admin"
    index_title = "Support"
    login_form = OperatorAuthenticationForm

    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.is_superuser
