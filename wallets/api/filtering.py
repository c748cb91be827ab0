"""The API's filter backend: django-filter's, with the API's rules for the query string.

A parameter given twice (``?currency=USD&currency=EUR``) is refused ("Give this parameter
once."), not silently narrowed to one of the values; an invalid value is a 422 naming it."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions


class DodoFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        repeated = {name: ["Give this parameter once."] for name in filterset.base_filters
                    if len(request.query_params.getlist(name)) > 1}
        if repeated:
            raise exceptions.ValidationError(repeated)
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        return filterset.qs
