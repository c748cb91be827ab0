"""The repository is self-contained: what the tests need lives inside it."""

import re

from tests.support.servers import REPO_ROOT

OUTSIDE = re.compile(r"""\.\./shared|parents?\b[^\n]*["']shared["']""")


def test_no_code_reads_beside_the_repository():
    offenders = []
    for folder in ("tests", "bench", "wallets", "walletproject", ".ci"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".mjs", ".sh", "") or not path.is_file() or "node_modules" in path.parts:
                continue
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(REPO_ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)
                          if path.name != "test_repository.py"]
    assert offenders == []


def test_dodo_schema_extract_is_in_the_repository():
    schema = (REPO_ROOT / "tests" / "api" / "dodo-openapi-customers-wallets.yaml").read_text()
    assert schema.startswith("openapi: 3.1.0")
    assert "/customers/{customer_id}/wallets/ledger-entries" in schema
