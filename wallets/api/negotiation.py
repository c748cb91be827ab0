"""The API answers JSON, whatever ``Accept`` says. The browsable API (HTML) is for people in a
browser: never for a request that carries an API key (``Authorization``), which gets JSON even
with ``Accept: text/html``. A request whose ``Accept`` (or ``?format=``) no renderer serves gets
JSON too, not a 406 or 404: an SDK must never be handed something it cannot decode."""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if request.META.get("HTTP_AUTHORIZATION"):
            renderers = [r for r in renderers if not isinstance(r, BrowsableAPIRenderer)]
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (exceptions.NotAcceptable, Http404):
            return renderers[0], renderers[0].media_type
