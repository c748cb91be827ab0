"""Text cells of every CSV the project writes (dashboard exports, ``low_balance_report``), made
safe against formula injection (CSV injection) when a person opens the file in a spreadsheet."""

import unicodedata

# What a spreadsheet may read as the start of a formula (OWASP's list), after leading whitespace.
_FORMULA_STARTS = frozenset("=+-@")
# Characters some importers take as a cell or row separator: never the first character unescaped.
_SEPARATOR_STARTS = ("\t", "\r")


def csv_safe_text(value) -> str:
    """``value`` as text for a CSV cell, prefixed with ``'`` when a spreadsheet could run it.

    The decision, cell by cell (the first character that is not whitespace decides):
    - it starts with ``=``, ``+``, ``-`` or ``@``: prefixed with ``'`` (the whole text kept after it);
    - leading whitespace does not hide it: a space, a tab, a CR, a line feed or any other Unicode
      whitespace before one of those characters gets the ``'`` too (some spreadsheets trim the
      cell, and then read the formula);
    - a tab or a CR as the very first character is prefixed whatever follows (OWASP: importers
      may split the cell there); a leading space or line feed before ordinary text is left alone;
    - look-alikes count: the first character is compared after NFKC normalisation, so full-width
      ``＝ ＋ － ＠`` (U+FF1D, U+FF0B, U+FF0D, U+FF20) and the small forms ``﹦ ﹢ ﹣ ﹫`` are treated
      as ``= + - @`` (East Asian input converts them, and some spreadsheets do);
    - anything else is left exactly as it was, line feeds and CRs inside the text included (the
      ``csv`` module quotes them; they are data, e.g. a reason written on two lines), and a cell of
      whitespace only stays as it is;
    - ``None`` is the empty string.
    Only text a person or a merchant typed goes through here (names, emails, reasons, ids);
    numbers are written as numbers, so a negative number is never prefixed.
    """
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_SEPARATOR_STARTS):
        return "'" + text
    first = text.lstrip()[:1]
    if first and unicodedata.normalize("NFKC", first)[:1] in _FORMULA_STARTS:
        return "'" + text
    return text
