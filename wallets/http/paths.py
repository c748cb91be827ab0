"""Which requests belong to the web UI (HTML pages) and which to the API (JSON, always).

The API lives at the root, as Dodo's does, so the web UI is the list of known prefixes and
everything else is the API (an unknown path there is a JSON 404)."""

HTML_PREFIXES = ("/dashboard", "/admin", "/accounts", "/static")


def is_api_path(path: str) -> bool:
    return not path.startswith(HTML_PREFIXES)
