"""``/customers/{customer_id}/wallets/ledger-entries``: the customer's ledger, newest first, and
posting a credit or a debit (answered with the wallet after it, as ``GET …/wallets`` shows it).

Extensions (API-NOTES, "Beyond Dodo"): one entry by id, the list's filters, the optional fields of a
posting (kind, reference, metadata, expiry, dry run) and ``…/{entry_id}/reversals``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from walletproject.db_router import reads_from_replica
from wallets import ledger, selectors
from wallets.api import serializers as s
from wallets.api.pagination import DodoPagination
from wallets.api.views.base import ERROR_RESPONSES, ID_REGEX, WRITE_ERROR_RESPONSES, CustomerScopedViewSet
from wallets.exceptions import NotAllowed
from wallets.filters import CustomerLedgerFilterSet
from wallets.models import LedgerEntry
from wallets.money import DODO_CURRENCIES
from wallets.selectors.entries import ledger_entry_get, wallet_view_of, with_entry_extensions
from wallets.services.approvals import adjustment_submit
from wallets.services.entries import ledger_entry_post, wallet_after_posting

IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                      description="Used as idempotency_key when the body has none")
#: The posting fields a dashboard session cannot send: the approvals flow holds none of them.
_SESSION_UNSUPPORTED = ("reference_object_id", "metadata")


class LedgerEntryViewSet(CustomerScopedViewSet):
    """A customer's ledger entries, newest first; posting one moves money in one wallet."""

    serializer_class = s.LedgerEntryResponse
    filterset_class = CustomerLedgerFilterSet
    pagination_class = DodoPagination
    queryset = LedgerEntry.objects.none()
    lookup_url_kwarg = "entry_id"
    lookup_value_regex = ID_REGEX
    #: A posting confirms a cached API key in its own lock statement (``wallets.api.auth``).
    confirms_api_key = ("create",)

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        method = self.request.method if self.request is not None else "GET"
        if method != "POST":
            return s.LedgerEntryResponse
        return s.ReversalCreateRequest if self.action == "reversals" else s.LedgerEntryCreateRequest

    def _entries_data(self, entries, *, wallet=None, many=False):
        entries_list = list(entries) if many else [entries]
        labels = selectors.actor_labels_for_entries(business_id=self.business_id, entries=entries_list)
        serializer = s.ReversalResponse if wallet is not None else s.LedgerEntryResponse
        context = {"actor_labels": labels, "wallet": wallet}
        return serializer(entries_list if many else entries, many=many, context=context).data

    @extend_schema(operation_id="get_customer_wallet_transactions",
                   description=(
                       "Lists the customer's ledger entries, newest first, optionally in one currency"
                       ' (and by kind, reference, time or direction).'
                   ),
                   parameters=[OpenApiParameter("currency", OpenApiTypes.STR, enum=DODO_CURRENCIES,
                                                description="Only this currency")],
                   responses={200: s.LedgerEntryListResponse, **ERROR_RESPONSES})
    @reads_from_replica
    def list(self, request, customer_id: str):
        customer = self.customer()
        entries = selectors.ledger_entry_list(business_id=self.business_id, customer_id=customer.id)
        page = self.paginate_queryset(with_entry_extensions(self.filter_queryset(entries)))
        return self.get_paginated_response(self._entries_data(page, many=True))

    @extend_schema(operation_id="get_customer_ledger_entry",
                   description=(
                       "Extension: one ledger entry of the customer (another's is 404)."
                   ),
                   responses={200: s.LedgerEntryResponse, **ERROR_RESPONSES})
    @reads_from_replica
    def retrieve(self, request, customer_id: str, entry_id: str):
        entry = ledger_entry_get(business_id=self.business_id, customer_id=customer_id, entry_id=entry_id)
        return Response(self._entries_data(entry))

    @extend_schema(operation_id="create_customer_ledger_entry_reversal",
                   request=s.ReversalCreateRequest,
                   description="Extension: reverse all or part of an entry, in the opposite direction in the "
                               "same wallet. The sum of an entry's reversals never exceeds it.",
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={200: s.ReversalResponse,
                              400: OpenApiResponse(s.ErrorResponse, description="Reversing a credit whose money "
                                                   "is gone (INSUFFICIENT_WALLET_FUNDS)"),
                              **WRITE_ERROR_RESPONSES})
    @action(detail=True, methods=["post"], url_path="reversals")
    def reversals(self, request, customer_id: str, entry_id: str):
        body = s.ReversalCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = _idempotency_key(request, data.get("idempotency_key"))
        if request.auth.actor.type == LedgerEntry.ActorType.USER:
            return self._user_reversal(request, customer_id, entry_id, data, key)
        result = ledger.reverse(
            business_id=self.business_id, customer_id=customer_id, entry_id=entry_id, actor=request.auth.actor,
            amount=data.get("amount"), reason=data.get("reason"), idempotency_key=key,
        )
        return self._reversal_response(customer_id, result)

    def _user_reversal(self, request, customer_id: str, entry_id: str, data: dict, key: str | None) -> Response:
        """A dashboard user's reversal obeys the adjustment flow's policy (role, reason, threshold:
        ``202`` when held for an approver), as the dashboard's reversal page does."""
        original = ledger_entry_get(business_id=self.business_id, customer_id=customer_id, entry_id=entry_id)
        left = original.amount - original.reversed_total - (original.grant_expired or 0)
        outcome = adjustment_submit(
            business_id=self.business_id, customer_id=customer_id, currency=original.currency,
            amount=data.get("amount") or max(left, 1), is_credit=not original.is_credit,
            reason=data.get("reason") or "", idempotency_key=key, user=request.user, reversal_of=original.pk,
        )
        if outcome.held:
            assert outcome.request is not None
            return Response({"status": "pending_approval", "adjustment_request_id": outcome.request.pk},
                            status=status.HTTP_202_ACCEPTED)
        assert outcome.reversal is not None
        return self._reversal_response(customer_id, outcome.reversal)

    def _reversal_response(self, customer_id: str, result: ledger.Result) -> Response:
        wallet = wallet_view_of(business_id=self.business_id, wallet=result.wallet)
        # A reversal is never reversed and never expires: its extension totals are 0 and null.
        assert result.entry is not None
        response = Response(self._entries_data(result.entry, wallet=wallet))
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    @extend_schema(operation_id="create_customer_ledger_entry",
                   description=(
                       "Credits or debits one of the customer's wallets and returns the wallet after "
                       'the entry. An idempotency key makes a retry return the first result; a debit '
                       'larger than the available balance is refused.'
                   ), request=s.LedgerEntryCreateRequest,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={200: s.WalletResponse,
                              202: OpenApiResponse(s.AdjustmentPendingResponse,
                                                   description="Dashboard session only: above the approval "
                                                               "threshold, held for an approver; nothing posted"),
                              400: OpenApiResponse(description="Insufficient balance (INSUFFICIENT_WALLET_FUNDS)"),
                              **WRITE_ERROR_RESPONSES})
    def create(self, request, customer_id: str):
        data = s.prebuilt(s.LedgerEntryCreateRequest).run_validation(request.data)
        key = _idempotency_key(request, data.get("idempotency_key"))
        if request.auth.actor.type == LedgerEntry.ActorType.USER:
            return self._user_adjustment(request, customer_id, data, key)
        posted = ledger_entry_post(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"],
            amount=data["amount"], is_credit=data["entry_type"] == "credit", reason=data.get("reason"),
            idempotency_key=key, actor=request.auth.actor, event_type=data["event_type"],
            reference_object_id=data.get("reference_object_id"), metadata=data.get("metadata"),
            expires_at=data.get("expires_at"), dry_run=data["dry_run"],
            confirm_api_key=request.auth.unconfirmed_key,
        )
        response = _wallet_response(posted.posting, posted.wallet)
        if posted.dry_run:
            response["Dry-Run"] = "true"
        return response

    def _user_adjustment(self, request, customer_id: str, data: dict, key: str | None) -> Response:
        """A dashboard user's session moves money exactly as the dashboard's adjustment flow does:
        the role must allow posting, a reason is required, and above the business's approval
        threshold nothing is posted: the request is held until a different approver approves it
        (``202``). API keys are not subject to maker–checker."""
        # The one policy (role, reason, threshold, form key) is adjustment_submit's, as for the
        # dashboard and the admin; its refusals are domain errors (403, 422) like any other. It
        # holds none of the extension fields yet: refuse them rather than drop them.
        if (any(data.get(name) is not None for name in _SESSION_UNSUPPORTED) or data["dry_run"]
                or data["event_type"] != LedgerEntry.EventType.MERCHANT_ADJUSTMENT):
            raise NotAllowed("Kinds, references, metadata and dry runs through a session use an API key.")
        outcome = adjustment_submit(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"],
            amount=data["amount"], is_credit=data["entry_type"] == "credit", reason=data.get("reason") or "",
            idempotency_key=key, user=request.user, expires_at=data.get("expires_at"),
        )
        if outcome.held:
            return Response({"status": "pending_approval", "adjustment_request_id": outcome.request.pk},
                            status=status.HTTP_202_ACCEPTED)
        assert outcome.posting is not None
        return _wallet_response(outcome.posting,
                                wallet_after_posting(business_id=self.business_id, posting=outcome.posting))


def _wallet_response(result, wallet) -> Response:
    """The wallet right after the entry, exactly as ``GET …/wallets`` shows it."""
    response = Response(s.prebuilt(s.WalletResponse).to_representation(wallet))
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _idempotency_key(request, body_key: str | None) -> str | None:
    """The body's ``idempotency_key``, or the ``Idempotency-Key`` header (both given: equal)."""
    header_key = request.headers.get("Idempotency-Key")
    if header_key is None:
        return body_key
    if body_key is not None and body_key != header_key:
        raise exceptions.ValidationError(
            {"idempotency_key": ["Differs from the Idempotency-Key header; send one or make them equal."]}
        )
    # The header obeys the body field's rules: a blank or over-long key is refused, not stored.
    try:
        return s.prebuilt(s.LedgerEntryCreateRequest).fields["idempotency_key"].run_validation(header_key)
    except exceptions.ValidationError as exc:
        raise exceptions.ValidationError({"idempotency_key": exc.detail}) from exc
