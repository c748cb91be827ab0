"""Ctrl-C ends any of the project's commands with a line and exit status 130, not a traceback,
and what the command was doing is rolled back (``wallets.management.base.WalletsCommand``)."""

import signal

import pytest
from django.db import ProgrammingError, transaction

from tests.commands.helpers import start_manage
from tests.support.locks import wait_for_a_lock_wait
from wallets.exceptions import raised_during_interrupt
from wallets.models import ApiKey, SecurityEvent
from wallets.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)  # the child process sees only committed rows


def test_ctrl_c_ends_a_command_waiting_on_a_lock_with_130_and_changes_nothing(business):
    key, _ = api_key_create(business=business)
    with transaction.atomic():
        ApiKey.objects.select_for_update().get(pk=key.pk)  # held: revoke_api_key waits for it
        # The lock wait outlasts the test (the default lock_timeout, 5 s, could end it first on a busy machine).
        process = start_manage("revoke_api_key", key.id, env={"WALLETS_DB_LOCK_TIMEOUT_MS": "120000"})
        wait_for_a_lock_wait(f"%{ApiKey._meta.db_table}%", what="revoke_api_key")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)

    assert process.returncode == 130, out + err
    assert "Interrupted (Ctrl-C)." in err, err
    assert "Traceback" not in err, err
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.API_KEY_REVOKED).exists()


def test_a_database_error_raised_while_ctrl_c_unwinds_counts_as_the_interrupt():
    def rollback_of_a_cut_query():
        try:
            raise KeyboardInterrupt  # psycopg, waiting on the server
        except KeyboardInterrupt:  # Django's atomic block, rolling back a connection still busy
            raise ProgrammingError("can't change 'autocommit' now: connection in transaction status ACTIVE") from None

    with pytest.raises(ProgrammingError) as during:
        rollback_of_a_cut_query()
    with pytest.raises(ProgrammingError) as alone:
        raise ProgrammingError("relation does not exist")

    assert raised_during_interrupt(during.value)  # `from None` hides the cause, not the context
    assert not raised_during_interrupt(alone.value)
