"""Template helpers for money and time. Money is always shown with the currency's own minor units
and symbol (``wallets.money.format_money``); times in the active (user's) time zone, with UTC on
hover."""

import datetime
import json

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from wallets.money import format_money, minor_unit_exponent, to_major

register = template.Library()


@register.filter
def money(amount_minor, currency):
    """``{{ wallet.balance|money:wallet.currency }}`` → "$1,234.50"."""
    if amount_minor is None or amount_minor == "":
        return ""
    return format_money(int(amount_minor), currency)


@register.filter
def money_wrap(amount_minor, currency):
    """``money`` for a balance card: the same text, with a line-break opportunity (``<wbr>``) after
    each group separator, so that a long amount wraps as "$92,233,720,<wbr>368,547,758.07" rather
    than overflowing its card (the text itself, and so copy and paste, is unchanged)."""
    text = money(amount_minor, currency)
    return mark_safe(",<wbr>".join(conditional_escape(part) for part in text.split(",")))  # noqa: S308


@register.filter
def signed_money(entry):
    """A ledger entry's amount with its direction: "+$5.00" or "−$5.00"."""
    sign = "+" if entry.is_credit else "\u2212"
    return f"{sign}{format_money(entry.amount, entry.currency)}"


@register.filter
def major(amount_minor, currency):
    """Plain major-unit text for a form input: 5000 USD → "50.00"."""
    if amount_minor is None:
        return ""
    return f"{to_major(int(amount_minor), currency):f}"


@register.filter
def currency_decimals(currency):
    return minor_unit_exponent(currency)


_ACTOR_KINDS = {"api_key": "API key", "user": "User", "command": "Command", "system": "System"}


@register.filter
def actor_kind(actor_type: str) -> str:
    """Short label of who made an entry (the column is narrow)."""
    return _ACTOR_KINDS.get(actor_type, actor_type)


def zone_label(local: datetime.datetime) -> str:
    """The zone's short name ("IST", "CET", "UTC"), or its offset where it has none ("UTC+04")."""
    name = local.tzname() or ""
    if not name or name[0] in "+-":
        offset = local.strftime("%z")  # +0400, +0545
        minutes = f":{offset[3:]}" if offset[3:] != "00" else ""
        name = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}{minutes}"
    return name


@register.filter
def when(value, style="datetime"):
    """``<time>`` in the user's time zone, labelled with the zone ("14:05 IST", the full name on
    hover), UTC on hover, tap or focus (a focusable element shows it: touch has no hover), ISO 8601
    for machines."""
    if not value:
        return ""
    if not isinstance(value, datetime.datetime):
        return value
    utc = value.astimezone(datetime.UTC)
    local = timezone.localtime(value)
    iso, title = utc.isoformat().replace("+00:00", "Z"), utc.strftime("%Y-%m-%d %H:%M:%S")
    if style == "date":
        return format_html('<time datetime="{}" title="{} UTC">{}</time>', iso, title, local.strftime("%b %-d, %Y"))
    zone = timezone.get_current_timezone_name()
    return format_html(
        '<time datetime="{}" title="{} UTC" tabindex="0" class="when">{} <span class="time-of-day">{} '
        '<abbr class="tz" title="{}">{}</abbr></span><span class="utc" role="tooltip">{} UTC</span></time>',
        iso, title, local.strftime("%b %-d, %Y"), local.strftime("%H:%M"), zone, zone_label(local),
        utc.strftime("%Y-%m-%d %H:%M"),
    )


@register.simple_tag(takes_context=True)
def sort_header(context, field, label, css_class="", param="sort"):
    """A ``<th>`` whose link sorts by ``field`` (ascending first, then descending) and keeps the
    other filters; ``aria-sort`` tells screen readers the current order."""
    request = context["request"]
    current = request.GET.get(param, "")
    if current == field:
        next_value, state, arrow = f"-{field}", "ascending", "\u25b2"
    elif current == f"-{field}":
        next_value, state, arrow = field, "descending", "\u25bc"
    else:
        next_value, state, arrow = field, "none", ""
    query = request.GET.copy()
    query[param] = next_value
    query.pop("page", None)
    return format_html(
        '<th scope="col" class="{}" aria-sort="{}"><a class="sort" href="?{}" data-sort="{}">{}'
        '<span class="arrow" aria-hidden="true">{}</span></a></th>',
        css_class, state, query.urlencode(), field, label, arrow,
    )


@register.filter
def json_text(value) -> str:
    """Metadata as compact, key-sorted JSON text (escaped by the template)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@register.filter
def available(wallet) -> int:
    """A wallet's available balance: booked balance less active holds."""
    return wallet.balance - wallet.held_balance


@register.inclusion_tag("dashboard/_date_presets.html", takes_context=True)
def date_presets(context, from_name="created_from", to_name="created_to", anchor=""):
    """``{% date_presets %}``: the Today / This month / Last month / All time links of a filter
    form (``wallets.dashboard.date_presets``), over the current query string."""
    from wallets.dashboard.date_presets import date_presets as presets_for

    request = context["request"]
    return {"presets": presets_for(request.GET, from_name=from_name, to_name=to_name), "anchor": anchor,
            "current_time_zone": context.get("current_time_zone", timezone.get_current_timezone_name())}


@register.simple_tag(takes_context=True)
def hidden_query(context, names_to_skip=""):
    """Hidden inputs carrying the current query string's other parameters into a GET form, so that
    submitting one form on a page keeps the filters of the others (``page`` is always dropped)."""
    skip = {"page", *names_to_skip.split()}
    query = context["request"].GET
    return format_html_join("", '<input type="hidden" name="{}" value="{}">',
                            ((name, value) for name in query if name not in skip for value in query.getlist(name)))


@register.filter
def expires_in(value) -> str:
    """When a hold or a grant lapses, counted in calendar days of the user's time zone: "expires
    today", "expires tomorrow", "expires in 3 days"; "expiry due" once the moment has passed (the
    expiry job has not run yet)."""
    if not isinstance(value, datetime.datetime):
        return ""
    if value <= timezone.now():
        return "expiry due"
    days = (timezone.localtime(value).date() - timezone.localdate()).days
    if days <= 0:
        return "expires today"
    if days == 1:
        return "expires tomorrow"
    return f"expires in {days} days"


@register.filter
def when_text(value, style="datetime") -> str:
    """``when`` as plain text for print (the PDF statement): "Mar 2, 2020 14:05 IST", or the date
    alone; the user's time zone, labelled."""
    if not isinstance(value, datetime.datetime):
        return ""
    local = timezone.localtime(value)
    if style == "date":
        return local.strftime("%b %-d, %Y")
    return f"{local.strftime('%b %-d, %Y %H:%M')} {zone_label(local)}"
