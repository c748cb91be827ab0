"""Which requests belong to the web UI (HTML pages) and which to the API (JSON, always).

The API lives at the root, as Dodo's does, so the web UI is the list of known prefixes and
everything else is the API (an unknown path there is a JSON 404)."""

HTML_PREFIXES = ("/dashboard", "/admin", "/accounts", "/static")


def is_api_path(path: str) -> bool:
    return not path.startswith(HTML_PREFIXES)


# Pages under the API's part of the URL space that people open in a browser: a plain-HTTP visit may be
# redirected to HTTPS, as the web UI's pages are. Everything else there is the API, which refuses.
BROWSER_PAGES = ("/api/docs", "/api/redoc", "/api-auth/")


def is_browser_page(path: str) -> bool:
    return path == "/" or not is_api_path(path) or path.startswith(BROWSER_PAGES)
