"""Production serves the whole app, static files included: gunicorn with the production settings
answers ``/static/`` itself (WhiteNoise), so the dashboard needs no proxy for its CSS and JavaScript."""

import re

import httpx
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_gunicorn_serves_the_dashboards_static_files(gunicorn_server):
    server = gunicorn_server(workers=1)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        login = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
        assert login.status_code == 200, login.text[:300]
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', login.text)
        assert any(a.endswith(".css") for a in assets), assets
        for asset in assets:
            response = client.get(asset, headers={"X-Forwarded-Proto": "https"})
            assert response.status_code == 200, asset
            assert response.content
            assert "max-age" in response.headers.get("cache-control", ""), asset
        css = client.get(next(a for a in assets if a.endswith(".css")), headers={"X-Forwarded-Proto": "https"})
        assert css.headers["content-type"].startswith("text/css")
        assert client.get("/static/dashboard/missing.css",
                          headers={"X-Forwarded-Proto": "https"}).status_code == 404
