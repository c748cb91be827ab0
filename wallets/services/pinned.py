"""Writes that name their business: ``save_pinned`` is ``instance.save(update_fields=…)`` with
``business_id`` in the ``WHERE`` clause beside the primary key.

Django's ``save`` updates a row by its primary key alone; on a schema distributed by ``business_id``
(docs/sharding.md) such an ``UPDATE`` would go to every shard. The row is the same either way (ids
are unique across businesses), so the result is too; the statement routes to one shard.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


def save_pinned(instance: models.Model, fields: Iterable[str]) -> None:
    """Write ``fields`` of ``instance`` (an existing row with a ``business_id``), as ``save`` would:
    each field's ``pre_save`` value (``auto_now`` included). No ``pre_save``/``post_save`` signal is
    sent: callers are models without receivers."""
    opts = instance._meta
    values = {}
    for name in dict.fromkeys(fields):
        field = opts.get_field(name)
        if not isinstance(field, models.Field):
            raise TypeError(f"{opts.label}.{name} is not a concrete field")
        values[field.attname] = field.pre_save(instance, add=False)
    business_id = getattr(instance, "business_id")  # noqa: B009 (every business model has it; typed models differ)
    updated = type(instance)._base_manager.filter(business_id=business_id, pk=instance.pk).update(**values)
    if updated != 1:
        raise models.ObjectDoesNotExist(f"{opts.label} {instance.pk} of business {business_id} is gone")
