"""The security suite shares the resilience suite's real servers (gunicorn on the test database)."""

from tests.resilience.conftest import gunicorn_server, reference_data  # noqa: F401 - fixtures
