"""Everything HTTP, one home per concern, shared by the API and the web UI:

- ``paths``: which paths are the API's (JSON always) and which the web UI's (HTML pages);
- ``errors``: Dodo's JSON error body, DRF's exception handler, the 403/404/500 handlers;
- ``middleware``: the request id, the JSON 500/503 for errors that escape a view, HTTPS for the API;
- ``client_ip``: the caller's address (behind our own proxy: the hop it appended);
- ``parsers``: the one JSON parser every API body goes through (size, depth, numbers, surrogates);
- ``health``: ``/healthz``.

Domain exceptions stay free of HTTP; ``errors`` is the one place that turns them into responses.
"""
