"""The layers keep their rooms: the admin and the domain never import the dashboard (a UI package)."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOT_UI = ["wallets/admin.py", "wallets/admin", "wallets/adjustments", "wallets/services", "wallets/selectors",
          "wallets/management"]


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_admin_and_domain_code_never_import_the_dashboard():
    files = []
    for entry in NOT_UI:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert any("admin" in str(f) for f in files)
    assert any("adjustments" in str(f) for f in files)
    offenders = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if n.startswith("wallets.dashboard"))
                 for f in files}
    assert {f: names for f, names in offenders.items() if names} == {}


def test_loading_the_admin_loads_no_dashboard_module():
    """At run time too: import the admin in a fresh interpreter and look at what got imported."""
    code = (
        "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'walletproject.settings');"
        "django.setup(); import wallets.admin, wallets.adjustments.flow;"
        "print(sorted(m for m in sys.modules if m.startswith('wallets.dashboard')))"
    )
    # django.setup() imports INSTALLED_APPS' AppConfigs, and the dashboard's app config module is
    # one of them; nothing else of the dashboard may be loaded.
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))  # our own printed list
    assert loaded <= {"wallets.dashboard", "wallets.dashboard.apps"}, loaded


def test_reads_live_in_selectors():
    """Reconciliation only reads: it is a selector (the old service module is gone), and its SQL
    lives with the project's other raw SQL (``wallets/ledger/sql.py``)."""
    from wallets import selectors
    from wallets.selectors import reconcile

    assert selectors.ledger_drift is reconcile.ledger_drift
    assert not (ROOT / "wallets/services/reconcile.py").exists()
    source = (ROOT / "wallets/selectors/reconcile.py").read_text(encoding="utf-8")
    assert "SELECT" not in source


def test_dashboard_views_are_split_by_page():
    from wallets.dashboard import urls

    modules = {pattern.callback.__module__ for pattern in urls.urlpatterns}
    assert modules == {f"wallets.dashboard.views.{name}" for name in
                       ("overview", "customers", "entries", "holds", "statements", "ledger", "low_balance",
                        "approvals", "reports", "settings", "webhooks", "bulk", "analytics",
                        # Settings section: one module per page.
                        "settings_team", "settings_keys", "settings_policies", "settings_activity",
                        "search")}
    assert not (ROOT / "wallets/dashboard/views.py").exists()
    assert not (ROOT / "wallets/admin.py").exists()
