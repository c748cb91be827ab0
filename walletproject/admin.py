"""The admin site: for the operator of the whole installation only (superusers).

The admin sees every business (customers, ledgers, API keys, users), so it is not a place for a
business's own team: staff users who are not superusers are refused (a business member, staff or
not, works in the dashboard, which is scoped to their business). ``has_permission`` is checked by
every admin view, the login included.

Every admin page shows times in UTC (whatever zone the person chose on the dashboard), and says so:
list columns are headed "… (UTC)" (``wallets.admin.common.UtcTimesMixin``) and the header reads
"Times in UTC".
"""

import datetime
import functools

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone


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


    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def in_utc(request, *args, **kwargs):
            with timezone.override(datetime.UTC):
                response = inner(request, *args, **kwargs)
                if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                    response.render()  # a TemplateResponse renders later, outside the override, unless now
            return response

        return in_utc
