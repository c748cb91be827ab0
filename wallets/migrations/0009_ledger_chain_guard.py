"""The database guards the chain: an entry must follow its wallet, and a wallet's balance changes only
by an entry.

Three triggers, on PostgreSQL and SQLite alike (frozen here: a migration never imports live code):
- ``ledger_entry_follows_wallet`` (after inserted entries): an entry must belong to its wallet's
  business, customer and currency, its ``sequence`` must be the wallet's ``entry_count + 1`` and its
  ``before_balance`` the wallet's balance (for several entries of one wallet in one statement: the
  first follows the wallet, each next one the previous). It then applies them: the wallet's balance
  becomes the last entry's ``after_balance``, ``entry_count`` its sequence, ``updated_at`` its time.
  The posting code never writes a balance. On PostgreSQL it runs once per statement over the
  statement's new rows (a ``COPY`` of a bulk batch is checked and applied set-based); SQLite has
  only row triggers, and runs it for each entry in order.
- ``wallet_starts_empty`` (before a wallet is inserted): balance and entry count are 0.
- ``wallet_changes_only_by_entries`` (before a wallet's balance, entry count or owner changes): only
  the first trigger may make that change. On PostgreSQL the rule is exactly that (the change must
  come from inside a trigger, ``pg_trigger_depth()``), so the engine's postings pay nothing for it;
  SQLite has no trigger depth, and checks the data instead: the owner never changes, the count only
  grows, and the new balance and count are those of an entry that exists (entries are only inserted
  through the first trigger, which applies them, so none lies ahead of its wallet). Either way a raw
  ``UPDATE … SET balance`` fails.

Violations are integrity errors naming the trigger.
What SQLite cannot do: nothing of the above is missing there; it lacks only the DELETE refusal of
entries (migration 0002: its test database must be flushable).
"""

from django.db import migrations

PG_FORWARD = """
CREATE FUNCTION wallets_ledger_entry_follows_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    applied bigint;
    wallets bigint;
    broken record;
BEGIN
    -- One statement checks and applies the statement's new entries, wallet by wallet: they must
    -- link up among themselves (each the next sequence, starting from the previous one's balance)
    -- and their first must follow the wallet (same owner and currency, next sequence, its balance).
    -- A wallet whose entries do not is left alone, and then counted below.
    WITH chained AS (
        SELECT wallet_id, business_id, customer_id, currency, sequence, before_balance, after_balance, created_at,
               lag(sequence) OVER w AS prev_sequence, lag(after_balance) OVER w AS prev_after
          FROM new_entries WINDOW w AS (PARTITION BY wallet_id ORDER BY sequence)
    ), per_wallet AS (
        SELECT wallet_id, min(business_id) AS business_id, min(customer_id) AS customer_id,
               min(currency) AS currency, min(sequence) AS first_sequence, max(sequence) AS last_sequence,
               (array_agg(before_balance ORDER BY sequence))[1] AS first_before,
               (array_agg(after_balance ORDER BY sequence DESC))[1] AS last_after,
               (array_agg(created_at ORDER BY sequence DESC))[1] AS last_created_at,
               bool_and(prev_sequence IS NULL OR (sequence = prev_sequence + 1 AND before_balance = prev_after))
                   AND count(DISTINCT (business_id, customer_id, currency)) = 1 AS linked
          FROM chained GROUP BY wallet_id
    )
    UPDATE wallets_wallet w
       SET balance = p.last_after, entry_count = p.last_sequence, updated_at = p.last_created_at
      FROM per_wallet p
     WHERE w.id = p.wallet_id AND p.linked AND w.business_id = p.business_id AND w.customer_id = p.customer_id
       AND w.currency = p.currency AND w.entry_count = p.first_sequence - 1 AND w.balance = p.first_before;
    GET DIAGNOSTICS applied = ROW_COUNT;
    SELECT count(DISTINCT wallet_id) INTO wallets FROM new_entries;
    IF applied <> wallets THEN
        -- The failure path only: name the first entry that does not follow (no wallet was changed
        -- by a failing statement: it rolls back whole).
        SELECT c.id, c.wallet_id, c.sequence, c.before_balance INTO broken
          FROM (SELECT e.id, e.business_id, e.customer_id, e.currency, e.wallet_id, e.sequence, e.before_balance,
                       lag(e.sequence) OVER w AS prev_sequence, lag(e.after_balance) OVER w AS prev_after
                  FROM new_entries e WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.sequence)) c
          LEFT JOIN wallets_wallet w ON w.id = c.wallet_id
         WHERE w.id IS NULL OR c.business_id <> w.business_id OR c.customer_id <> w.customer_id
            OR c.currency <> w.currency
            OR (c.prev_sequence IS NULL AND (c.sequence <> w.entry_count + 1 OR c.before_balance <> w.balance))
            OR (c.prev_sequence IS NOT NULL AND (c.sequence <> c.prev_sequence + 1 OR c.before_balance <> c.prev_after))
         ORDER BY c.wallet_id, c.sequence LIMIT 1;
        RAISE EXCEPTION 'ledger_entry_follows_wallet: entry % (sequence %, before_balance %) does not follow wallet %',
            broken.id, broken.sequence, broken.before_balance, broken.wallet_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_follows_wallet';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entry_follows_wallet AFTER INSERT ON wallets_ledgerentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_ledger_entry_follows_wallet();

CREATE FUNCTION wallets_wallet_starts_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet_starts_empty: wallet % would start with balance % and % entries',
        NEW.id, NEW.balance, NEW.entry_count
        USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_starts_empty';
END;
$$;
CREATE TRIGGER wallet_starts_empty BEFORE INSERT ON wallets_wallet
    FOR EACH ROW WHEN (NEW.balance <> 0 OR NEW.entry_count <> 0)
    EXECUTE FUNCTION wallets_wallet_starts_empty();

CREATE FUNCTION wallets_wallet_changes_only_by_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'wallet_changes_only_by_entries: wallet % balance % -> %, entries % -> %, without its entry',
        OLD.id, OLD.balance, NEW.balance, OLD.entry_count, NEW.entry_count
        USING ERRCODE = 'check_violation', CONSTRAINT = 'wallet_changes_only_by_entries';
END;
$$;
-- Only the entry trigger above (trigger depth 1) may change a wallet's balance, count or owner; a
-- statement sent by a client (depth 0) that tries is refused before it writes.
CREATE TRIGGER wallet_changes_only_by_entries BEFORE UPDATE ON wallets_wallet
    FOR EACH ROW WHEN (pg_trigger_depth() = 0 AND (
        NEW.balance IS DISTINCT FROM OLD.balance OR NEW.entry_count IS DISTINCT FROM OLD.entry_count
        OR NEW.business_id IS DISTINCT FROM OLD.business_id OR NEW.customer_id IS DISTINCT FROM OLD.customer_id
        OR NEW.currency IS DISTINCT FROM OLD.currency))
    EXECUTE FUNCTION wallets_wallet_changes_only_by_entries();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS wallet_changes_only_by_entries ON wallets_wallet;
DROP FUNCTION IF EXISTS wallets_wallet_changes_only_by_entries();
DROP TRIGGER IF EXISTS wallet_starts_empty ON wallets_wallet;
DROP FUNCTION IF EXISTS wallets_wallet_starts_empty();
DROP TRIGGER IF EXISTS ledger_entry_follows_wallet ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_ledger_entry_follows_wallet();
"""
SQLITE_FORWARD = [
    """
CREATE TRIGGER ledger_entry_follows_wallet AFTER INSERT ON wallets_ledgerentry
BEGIN
    SELECT RAISE(ABORT, 'ledger_entry_follows_wallet: the entry does not follow its wallet')
     WHERE NOT EXISTS (SELECT 1 FROM wallets_wallet w
                        WHERE w.id = NEW.wallet_id AND w.business_id = NEW.business_id
                          AND w.customer_id = NEW.customer_id AND w.currency = NEW.currency
                          AND w.entry_count = NEW.sequence - 1 AND w.balance = NEW.before_balance);
    UPDATE wallets_wallet
       SET balance = NEW.after_balance, entry_count = NEW.sequence, updated_at = NEW.created_at
     WHERE id = NEW.wallet_id;
END
""",
    """
CREATE TRIGGER wallet_starts_empty BEFORE INSERT ON wallets_wallet
WHEN NEW.balance <> 0 OR NEW.entry_count <> 0
BEGIN
    SELECT RAISE(ABORT, 'wallet_starts_empty: a wallet starts with balance 0 and no entries');
END
""",
    """
CREATE TRIGGER wallet_changes_only_by_entries BEFORE UPDATE ON wallets_wallet
WHEN NEW.balance IS NOT OLD.balance OR NEW.entry_count IS NOT OLD.entry_count
  OR NEW.business_id IS NOT OLD.business_id OR NEW.customer_id IS NOT OLD.customer_id
  OR NEW.currency IS NOT OLD.currency
BEGIN
    SELECT RAISE(ABORT, 'wallet_changes_only_by_entries: a balance changes only by its entry')
     WHERE NEW.business_id IS NOT OLD.business_id OR NEW.customer_id IS NOT OLD.customer_id
        OR NEW.currency IS NOT OLD.currency OR NEW.entry_count <= OLD.entry_count
        OR NOT EXISTS (SELECT 1 FROM wallets_ledgerentry e
                        WHERE e.business_id = NEW.business_id AND e.wallet_id = NEW.id
                          AND e.sequence = NEW.entry_count AND e.after_balance = NEW.balance);
END
""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS wallet_changes_only_by_entries",
    "DROP TRIGGER IF EXISTS wallet_starts_empty",
    "DROP TRIGGER IF EXISTS ledger_entry_follows_wallet",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0008_customer_preferred_locale")]
    operations = [migrations.RunPython(forward, reverse)]
