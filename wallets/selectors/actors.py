"""Who made a ledger entry, as people read it: one rule for every page and export.

``ActorLabels.label(actor_type, actor_id)``:
- a dashboard or admin user: their username;
- an API key of the business: its name, else its prefix with an ellipsis (``wsk_AbC…``);
- a command or the system: the actor id (the command's name);
- a user or key that no longer exists (or belongs elsewhere): the actor id itself.

Two ways to fill it, with the same result: ``actor_labels_for_entries`` for a page of entries (two
queries at most, whatever the number of entries) and ``actor_labels_for_business`` for an export
streamed over every entry (the business's members, staff and keys up front; any other user id met
on the way is looked up once).
"""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import CharField, Q, Value
from django.db.models.functions import Coalesce, Concat, NullIf

from wallets.models import AdjustmentRequest, ApiKey, LedgerEntry

USER = LedgerEntry.ActorType.USER
API_KEY = LedgerEntry.ActorType.API_KEY


def _key_label(name: str, prefix: str) -> str:
    return name or (f"{prefix}…" if prefix else "")


class ActorLabels:
    def __init__(self, *, business_id: str, users: dict[str, str], keys: dict[str, str], complete: bool):
        self.business_id = business_id
        self._users = users
        self._keys = keys
        # complete: every actor that may be asked about was loaded, so a miss is final.
        self._complete = complete

    def label(self, actor_type: str, actor_id: str) -> str:
        if actor_type == USER:
            found = self._users.get(actor_id)
            if found is None and not self._complete and actor_id.isdigit():
                found = self._users[actor_id] = (
                    get_user_model().objects.filter(pk=int(actor_id)).values_list("username", flat=True).first() or ""
                )
            return found or actor_id
        if actor_type == API_KEY:
            found = self._keys.get(actor_id)
            if found is None and not self._complete:
                row = ApiKey.objects.filter(business_id=self.business_id, pk=actor_id).values_list(
                    "name", "prefix").first()
                found = self._keys[actor_id] = _key_label(*row) if row else ""
            return found or actor_id
        return actor_id


def actor_labels_for_entries(*, business_id: str, entries: Iterable[LedgerEntry]) -> ActorLabels:
    """Labels for these entries' actors: two queries at most."""
    entries = list(entries)
    user_ids = {e.actor_id for e in entries if e.actor_type == USER and e.actor_id.isdigit()}
    key_ids = {e.actor_id for e in entries if e.actor_type == API_KEY}
    users = keys = {}
    if user_ids:
        users = {str(pk): username for pk, username in
                 get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")}
    if key_ids:
        keys = {pk: _key_label(name, prefix) for pk, name, prefix in
                ApiKey.objects.filter(business_id=business_id, pk__in=key_ids).values_list("pk", "name", "prefix")}
    return ActorLabels(business_id=business_id, users=users, keys=keys, complete=True)


def actor_labels_for_business(*, business_id: str) -> ActorLabels:
    """Labels for any entry of the business, for a streamed export: the business's members, staff and
    superusers (admin adjustments) and every key of the business in two queries; a user outside them
    (e.g. a former member) is looked up when first met."""
    users = {str(pk): username for pk, username in
             get_user_model().objects.filter(Q(membership__business_id=business_id) | Q(is_staff=True)
                                             | Q(is_superuser=True)).values_list("pk", "username")}
    keys = {pk: _key_label(name, prefix) for pk, name, prefix in
            ApiKey.objects.filter(business_id=business_id).values_list("pk", "name", "prefix")}
    return ActorLabels(business_id=business_id, users=users, keys=keys, complete=False)


def ledger_entries_with_actor_labels(*, business_id: str, entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """The entries, each with ``actor_label`` set (for templates), and ``approved_by``: the approver's
    username of an entry a held adjustment posted (maker–checker), else "". The approvers cost one
    query, and only when a person made an entry on the page (only a person's adjustment is held)."""
    entries = list(entries)
    labels = actor_labels_for_entries(business_id=business_id, entries=entries)
    made_by_people = [e.pk for e in entries if e.actor_type == USER]
    approvers = dict(
        AdjustmentRequest.objects.filter(business_id=business_id, ledger_entry_id__in=made_by_people)
        .values_list("ledger_entry_id", "decided_by__username")
    ) if made_by_people else {}
    for entry in entries:
        entry.actor_label = labels.label(entry.actor_type, entry.actor_id)  # type: ignore[attr-defined]  # for templates
        entry.approved_by = approvers.get(entry.pk) or ""  # type: ignore[attr-defined]
    return entries


def actor_names_for_business(*, business_id: str) -> list[str]:
    """The names "Made by" can be filtered on, for the field's suggestions: the business's members
    and its API keys' labels (one query, a UNION), then ``system``. Commands are typed by name."""
    users = get_user_model().objects.filter(membership__business_id=business_id).values_list("username")
    keys = ApiKey.objects.filter(business_id=business_id).values_list(
        Coalesce(NullIf("name", Value("")), Concat("prefix", Value("…")), output_field=CharField()))
    names = {name for (name,) in users.union(keys) if name and name != "…"}
    return [*sorted(names, key=str.lower), LedgerEntry.ActorType.SYSTEM.value]
