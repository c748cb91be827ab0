"""Dodo Payments' ``Locale`` codes (SDK 1.123.0, ``dodopayments.types.Locale``): the languages of a
customer's emails. ``null`` means English."""

DODO_LOCALES: tuple[str, ...] = (
    "ar", "ca", "zh", "nl", "en", "fr", "de", "he", "id", "it", "ja", "ka", "ko", "ms", "pl", "pt",
    "ro", "ru", "es", "sv", "th", "tr",
)
LOCALE_CHOICES = [(code, code) for code in DODO_LOCALES]
