"""Django's PostgreSQL backend with two changes for the posting path, where every round trip counts:

**A health check that costs no round trip.** Django checks a reused connection (``CONN_HEALTH_CHECKS``)
with a ``SELECT 1`` at the first query of every request: a round trip and a statement for each API
posting. A connection that PostgreSQL ended (a restart, ``pg_terminate_backend``, an idle timeout) has
told us so before we ask: the server sends its termination notice and closes the socket, which is then
readable. So an idle connection whose socket has nothing to read is usable, known without sending
anything; one that has something to read (the end, or a notice) is checked the old way, with
``SELECT 1``. A connection that died silently (a network cut with no FIN) is found by its first
statement, whose error is a 503 and makes Django drop it at the end of that request, as before.

**A transaction in pipeline mode** (``pipeline_until_transaction_end``, see ``wallets.ledger.sql``):
psycopg's pipeline sends statements whose results nobody reads yet together with the next one, and
the pipeline ends with the transaction's own ``COMMIT`` or ``ROLLBACK`` here, so that Django's switch
back to autocommit (which syncs a pipeline: a round trip) happens after it.
"""

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    _transaction_pipeline: Any = None

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or super().is_usable()

    def pipeline_until_transaction_end(self) -> None:
        """From now until this transaction's commit or rollback, statements are pipelined. Only in
        the outermost atomic block (its COMMIT is what collects the pipelined statements' errors)."""
        assert self.in_atomic_block
        assert not self.get_autocommit()
        assert self._transaction_pipeline is None
        pipeline = self.connection.pipeline()
        pipeline.__enter__()
        self._transaction_pipeline = pipeline

    def in_transaction_pipeline(self) -> bool:
        return self._transaction_pipeline is not None

    def _end_transaction_pipeline(self, *, failed: bool = False) -> None:
        pipeline, self._transaction_pipeline = self._transaction_pipeline, None
        if pipeline is None:
            return
        try:
            with self.wrap_database_errors:
                pipeline.__exit__(None, None, None)
        except Exception:
            if not failed:
                raise
            # The commit or rollback already failed with the real error; the pipeline's own end then
            # only reports that it was aborted by it. The caller's error is the one to raise.

    def _commit(self) -> None:
        try:
            super()._commit()  # in the pipeline: sends what is queued with the COMMIT, raises their errors
        except BaseException:
            self._end_transaction_pipeline(failed=True)
            raise
        self._end_transaction_pipeline()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        except BaseException:
            self._end_transaction_pipeline(failed=True)
            raise
        self._end_transaction_pipeline()

    def _close(self) -> None:
        self._transaction_pipeline = None  # a closed connection's pipeline is gone with it
        super()._close()
