"""Streamed CSV: rows are written as the database cursor yields them, so an export of a million
entries never sits in memory (``StreamingHttpResponse`` over ``QuerySet.iterator``).

Every export starts with a UTF-8 byte-order mark: Excel on Windows reads a file without one in the
machine's legacy code page ("MÃ¼ller" for "Müller"); Python's ``utf-8-sig``, LibreOffice, Numbers
and pandas read it as UTF-8 either way."""

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

CHUNK_ROWS = 500
BOM = "\ufeff"


class _Echo:
    """A file-like object whose ``write`` returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_stream_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield BOM + writer.writerow(header)
        buffer: list[str] = []
        for row in rows:
            buffer.append(writer.writerow(row))
            if len(buffer) >= CHUNK_ROWS:
                yield "".join(buffer)
                buffer.clear()
        if buffer:
            yield "".join(buffer)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
