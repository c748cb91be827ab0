"""The SSRF rule (``wallets.webhooks.targets``), checked at every attempt: with private targets not
allowed, a URL whose host resolves to a loopback, private, link-local or otherwise non-public address
is refused at delivery (a failed attempt saying why) and no request reaches the receiver; the
connection goes to the address that was checked (pinned), so a second DNS answer cannot differ.

Resolution goes through ``targets.resolve``, replaced here by a table (the tests' DNS): a host name
that resolves to the real receiver's 127.0.0.1 proves that a refused attempt would have arrived.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from django.test import override_settings

from wallets import ledger
from wallets.models import WebhookAttempt, WebhookDelivery
from wallets.services import webhooks as endpoints
from wallets.services.actors import Actor
from wallets.webhooks import targets

HOST = "hooks.merchant.example"


@pytest.fixture
def dns(monkeypatch):
    """``dns[name] = [addresses]``; every lookup is recorded in ``dns.lookups``."""

    class Table(dict):
        lookups: list[str]

    table = Table()
    table.lookups = []

    def resolve(host: str, port: int) -> list[str]:
        table.lookups.append(host)
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    monkeypatch.setattr(targets, "resolve", resolve)
    return table


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "169.254.1.1",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "64:ff9b:1::1", "2001:db8::1",
])
def test_non_public_addresses_are_not_public(address):
    assert not targets.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "100.128.0.1"])
def test_public_addresses_are_public(address):
    assert targets.is_public(ipaddress.ip_address(address))


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"])
def test_a_name_resolving_to_a_private_address_is_refused(dns, address):
    dns[HOST] = [address]
    with pytest.raises(targets.Refused, match=re.escape(f"{HOST} resolves to {address}")):
        targets.resolve_target(f"https://{HOST}/hooks")


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False)
def test_any_private_address_among_the_answers_refuses(dns):
    dns[HOST] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(targets.Refused, match=re.escape("10.1.2.3")):
        targets.resolve_target(f"https://{HOST}/")


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False)
@pytest.mark.parametrize("url", ["https://127.0.0.1/x", "https://[::1]/x", "https://169.254.169.254/latest/meta-data",
                                 "https://[::ffff:7f00:1]/x", "https://10.0.0.1:8443/x"])
def test_literal_private_addresses_are_refused_without_a_lookup(dns, url):
    with pytest.raises(targets.Refused):
        targets.resolve_target(url)
    assert dns.lookups == []


def test_an_unresolvable_name_is_refused(dns):
    with pytest.raises(targets.Refused, match="cannot resolve"):
        targets.resolve_target("https://nowhere.invalid/")


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False)
def test_https_is_pinned_to_the_checked_address_with_the_host_name_for_tls(dns):
    dns[HOST] = ["93.184.216.34"]
    target = targets.resolve_target(f"https://{HOST}/hooks?x=1")
    url, headers, extensions = target.request_args()
    assert url == "https://93.184.216.34/hooks?x=1"
    assert headers == {"Host": HOST}
    assert extensions == {"sni_hostname": HOST}
    dns[HOST] = ["2606:4700:4700::1111"]
    url, headers, _ = targets.resolve_target(f"https://{HOST}:8443/").request_args()
    assert url == "https://[2606:4700:4700::1111]:8443/"
    assert headers == {"Host": f"{HOST}:8443"}


# --- At delivery, to a real receiver --------------------------------------------------------------

@pytest.fixture
def named_endpoint(business, receiver):
    """An endpoint at ``http://hooks.merchant.example:<port>/hooks`` (made while private targets are
    allowed, as http needs), which the tests' DNS may point at the receiver."""
    return endpoints.endpoint_create(business_id=business.id, url=f"http://{HOST}:{receiver.port}/hooks",
                                     filter_types=["wallet.ledger_entry.created"])


def credit(customer):
    ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=100,
                is_credit=True, actor=Actor.command("test"))


@pytest.mark.django_db(transaction=True)
def test_the_name_is_resolved_once_and_the_request_goes_to_that_address(dns, named_endpoint, receiver, customer,
                                                                         drain):
    dns[HOST] = ["127.0.0.1"]  # the receiver: no real DNS says so
    credit(customer)
    drain(lambda: receiver.requests)
    [request] = receiver.requests
    assert request.headers["host"] == f"{HOST}:{receiver.port}"
    assert dns.lookups == [HOST]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"])
def test_private_targets_are_refused_at_delivery_and_nothing_is_sent(dns, named_endpoint, receiver, customer,
                                                                      drain, address):
    dns[HOST] = [address]
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False, WEBHOOK_RETRY_SCHEDULE=[0.2]):
        credit(customer)
        drain(lambda: WebhookDelivery.objects.get().status == "failed")
    assert receiver.requests == []
    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt.status_code is None
        assert f"resolves to {address}" in attempt.error


@pytest.mark.django_db(transaction=True)
def test_dns_rebinding_is_refused_at_delivery(dns, business, receiver, customer, drain):
    """An https name is accepted when the endpoint is made (what it resolves to then proves nothing);
    it now answers 127.0.0.1: every attempt resolves again and is refused."""
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False, WEBHOOK_RETRY_SCHEDULE=[0.2, 0.2]):
        dns[HOST] = ["93.184.216.34"]
        endpoint = endpoints.endpoint_create(business_id=business.id, url=f"https://{HOST}/hooks",
                                             filter_types=["wallet.ledger_entry.created"])
        dns[HOST] = ["127.0.0.1"]
        credit(customer)
        drain(lambda: WebhookDelivery.objects.get().status == "failed")
    assert dns.lookups == [HOST] * 3  # resolved again at every attempt
    assert [a.error for a in WebhookAttempt.objects.all()] == [
        (f"refused: {HOST} resolves to 127.0.0.1, which is not a public address "
        f"(private, loopback, link-local or reserved)")] * 3
    assert receiver.requests == []
    assert endpoint.deliveries.get().attempts == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_endpoint_is_delivered_to_when_private_targets_are_allowed(dns, named_endpoint, receiver,
                                                                          customer, drain):
    """The refusals above are the rule's: allowed (development), the same setup reaches the receiver."""
    dns[HOST] = ["127.0.0.1"]
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False, WEBHOOK_RETRY_SCHEDULE=[60]):
        credit(customer)
        drain(WebhookAttempt.objects.exists)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    endpoints.delivery_replay(business_id=delivery.business_id, delivery_id=delivery.id)
    drain(lambda: receiver.requests)
    assert receiver.requests[0].headers["webhook-id"] == delivery.event_id
