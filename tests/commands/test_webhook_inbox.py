"""webhook_inbox: the local receiver of the README's run command verifies and prints deliveries."""

import datetime
import http.client
import json
import subprocess
import sys
import time

from tests.support.servers import REPO_ROOT, free_port
from wallets.webhooks import signing


def post(port, body, headers):
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/webhooks", body=body, headers={"Content-Type": "application/json", **headers})
            return conn.getresponse().status
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise AssertionError("the inbox never listened")


def test_the_inbox_verifies_prints_and_refuses_a_bad_signature():
    secret = signing.new_secret()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "manage.py", "webhook_inbox", "--port", str(port), "--secret", secret],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = json.dumps({"business_id": "bus_1", "type": "wallet.ledger_entry.created",
                           "timestamp": "2026-12-01T00:00:00Z",
                           "data": {"payload_type": "CustomerWalletTransaction", "customer_id": "cus_1",
                                    "currency": "USD", "amount": 500, "is_credit": True}})
        good = signing.headers([secret], msg_id="evt_good", timestamp=datetime.datetime.now(datetime.UTC), body=body)
        assert post(port, body, good) == 204
        bad = signing.headers([signing.new_secret()], msg_id="evt_bad",
                              timestamp=datetime.datetime.now(datetime.UTC), body=body)
        assert post(port, body, bad) == 400
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    lines = [line for line in out.splitlines() if line.startswith("evt_")]
    assert len(lines) == 2, out
    assert "wallet.ledger_entry.created" in lines[0]
    assert "customer_id=cus_1 currency=USD amount=500 is_credit=True" in lines[0]
    assert lines[0].endswith("[verified]")
    assert lines[1].startswith("evt_bad")
    assert lines[1].endswith("[SIGNATURE DID NOT VERIFY]")
