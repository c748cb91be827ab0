"""Django's PostgreSQL backend, with a health check that costs no round trip.

Django checks a reused connection (``CONN_HEALTH_CHECKS``)
with a ``SELECT 1`` at the first query of every request: a round trip and a statement for each API
posting. A connection that PostgreSQL ended (a restart, ``pg_terminate_backend``, an idle timeout) has
told us so before we ask: the server sends its termination notice and closes the socket, which is then
readable. So an idle connection whose socket has nothing to read is usable, known without sending
anything; one that has something to read (the end, or a notice) is checked the old way, with
``SELECT 1``. A connection that died silently (a network cut with no FIN) is found by its first
statement, whose error is a 503 and makes Django drop it at the end of that request, as before.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
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
