"""Does a SQL statement route to one shard? Every distributed table it reads or writes must be pinned
to one ``business_id``: an equality (or ``IN``) on that table's ``business_id``, or a join on
``business_id`` to a table that is pinned; an INSERT must name ``business_id`` in its columns.

Parsed with sqlglot (PostgreSQL dialect). ``FOR UPDATE OF t`` names no new table. An unqualified
``business_id`` counts for every table of the statement (Django qualifies its columns; the ledger's
raw SQL in ``wallets/ledger/sql.py`` too).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

from tests.scaleout.shard_rules import SHARD_KEY

REPO = Path(__file__).resolve().parents[2]
_SKIP = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK|COMMIT|BEGIN|SET |SHOW |SELECT pg_)", re.IGNORECASE)


@dataclass
class Statement:
    sql: str
    origin: str  # the innermost frame in the project's code (not tests/): "wallets/…/x.py:function"
    unpinned: list[str] = field(default_factory=list)


def origin_of_current_call() -> str:
    frames = traceback.extract_stack()
    for frame in reversed(frames):
        path = Path(frame.filename)
        if path.is_relative_to(REPO) and not path.is_relative_to(REPO / "tests") \
                and not path.is_relative_to(REPO / ".venv"):
            return f"{path.relative_to(REPO)}:{frame.name}"
    return "<django>"


def unpinned_tables(sql: str, tables: set[str]) -> list[str]:
    """The distributed tables of ``sql`` that are not pinned to one business (empty: one shard)."""
    if _SKIP.match(sql) or not any(t in sql for t in tables):
        return []
    try:
        statements = [s for s in sqlglot.parse(sql.replace("%s", "NULL"), read="postgres") if s is not None]
    except sqlglot.errors.ParseError:
        return [f"<unparsed: {sql[:80]}>"]
    problems = []
    for tree in statements:
        problems += _unpinned(tree, tables)
    return problems


def _unpinned(tree: exp.Expression, tables: set[str]) -> list[str]:
    refs = [t for t in tree.find_all(exp.Table) if t.name in tables and not t.find_ancestor(exp.Lock)]
    if not refs:
        return []
    pinned: set[str] = set()
    edges: list[tuple[str, str]] = []
    unqualified = False
    for node in tree.find_all(exp.EQ, exp.In):
        sides = [node.this, node.expression] if isinstance(node, exp.EQ) else [node.this]
        keys = [s for s in sides if isinstance(s, exp.Column) and s.name == SHARD_KEY]
        if not keys:
            continue
        if len(keys) == 2:
            edges.append((keys[0].table, keys[1].table))
            continue
        if isinstance(node, exp.EQ) and any(isinstance(s, exp.Column) for s in sides if s is not keys[0]):
            continue  # business_id = some other column: proves nothing
        if keys[0].table:
            pinned.add(keys[0].table)
        else:
            unqualified = True
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            if (a in pinned) != (b in pinned):
                pinned |= {a, b}
                changed = True
    problems = []
    for ref in refs:
        alias = ref.alias_or_name
        schema = ref.parent if isinstance(ref.parent, exp.Schema) else None
        if schema is not None and isinstance(schema.parent, exp.Insert):
            if SHARD_KEY not in {c.name for c in schema.expressions}:
                problems.append(f"INSERT INTO {ref.name} without {SHARD_KEY}")
            continue
        if isinstance(ref.parent, exp.Insert):  # INSERT INTO t SELECT/VALUES without a column list
            problems.append(f"INSERT INTO {ref.name} without a column list")
            continue
        if alias in pinned or unqualified:
            continue
        problems.append(ref.name if alias == ref.name else f"{ref.name} AS {alias}")
    return problems
