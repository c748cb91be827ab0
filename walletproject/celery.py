"""The Celery app, for ``WALLETS_TASKS_BACKEND=django_tasks_celery.CeleryBackend`` (the optional
``celery`` extra): ``celery -A walletproject worker`` runs the ``django.tasks`` tasks enqueued through
RabbitMQ, ``celery -A walletproject beat`` schedules the expiry sweep (docs/operations.md, "Celery with
RabbitMQ").

Configured from Django's settings (the ``CELERY_*`` names, set in settings.py only with that backend).
Nothing is autodiscovered: the only tasks are ``wallets.tasks``' (``django.tasks`` functions, which
django-tasks-celery registers with this app when their module is imported), so the worker imports that
module and no other. The sweep is periodic with this backend by beat, every ``WALLETS_SWEEP_INTERVAL``
seconds: the database queue's self-rescheduling chain (``sweep_ensure_scheduled``) is off here.
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "walletproject.settings")

app = Celery("walletproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ("wallets.tasks",)
app.conf.beat_schedule = {
    "wallets.sweep_expiries": {"task": "wallets.tasks.sweep_expiries", "schedule": settings.WALLETS_SWEEP_INTERVAL},
}
