"""Crisis lines by country: which ones a member sees, and how each is called or texted.

A member sees their country's own lines, then the international ones (country left empty); an
international "call your emergency number" line is left out where the country has its own.
Which country: the one they chose, else the deployment's default (RESOURCES_DEFAULT_COUNTRY).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from moderation.models import SupportResource

COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def normalize_country(value: str | None) -> str:
    """An ISO 3166 alpha-2 code in capitals, or "" for none or anything else."""
    code = (value or "").strip().upper()
    return code if COUNTRY_RE.match(code) else ""


def country_for(user: Any) -> str:
    """The country whose lines this person sees (anonymous visitors get the default)."""
    chosen = normalize_country(getattr(user, "country", ""))
    return chosen or normalize_country(settings.RESOURCES_DEFAULT_COUNTRY)


def dial(number: str) -> str:
    """The digits of a number as written for people ('9-8-8', '116 123'), with a leading +."""
    number = number.strip()
    digits = re.sub(r"\D", "", number)
    return f"+{digits}" if number.startswith("+") else digits


def contacts(resource: SupportResource) -> list[dict[str, str]]:
    """Tap-to-call and tap-to-text links. The label is the link's whole visible text, so what
    a screen reader says and what a voice-control user reads aloud are the same words."""
    out = []
    if resource.phone and dial(resource.phone):
        href = f"tel:{dial(resource.phone)}"
        out.append({"kind": "call", "label": f"Call {resource.phone}", "href": href})
    if resource.text_number and dial(resource.text_number):
        number = dial(resource.text_number)
        keyword = resource.text_keyword.strip()
        if keyword:
            label = f"Text {keyword} to {resource.text_number}"
            href = f"sms:{number}?body={keyword}"
        else:
            label, href = f"Text {resource.text_number}", f"sms:{number}"
        out.append({"kind": "text", "label": label, "href": href})
    return out


def resource_dict(resource: SupportResource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "how": resource.how,
        "url": resource.url,
        "country": resource.country,
        "categories": resource.categories,
        "immediate_danger": resource.immediate_danger,
        "contacts": contacts(resource),
    }


def resources_for(country: str, category: str | None = None) -> list[SupportResource]:
    """A country's own lines, then the international ones; `category` keeps the lines that
    serve it (a line with no categories serves all)."""
    country = normalize_country(country)
    active = [
        r
        for r in SupportResource.objects.filter(active=True, country__in={country, ""})
        if category is None or not r.categories or category in r.categories
    ]
    own = [r for r in active if country and r.country == country]
    has_emergency = any(r.immediate_danger for r in own)
    fallback = [r for r in active if not r.country and not (has_emergency and r.immediate_danger)]
    return own + fallback


def countries() -> list[str]:
    """The countries that have lines of their own, for the member's choice."""
    codes = SupportResource.objects.filter(active=True).exclude(country="")
    return sorted(set(codes.values_list("country", flat=True)))
