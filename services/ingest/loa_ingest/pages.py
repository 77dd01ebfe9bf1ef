"""Ingest's server-rendered pages: one Jinja2 environment, one base layout, two languages.

Every page extends `templates/base.html` and renders through `render(...)`, which gives the template:
- `lang` ("vi" by default; "en" one tap away: `?lang=en` on any page, remembered in the `loa_lang` cookie),
- `t(key)`: the page's string in that language (every string is written in both: `Strings`),
- `lang_url(code)`: this page in the other language,
- `person` (the signed-in account's display name, or None) and `csrf_token` (for every form that changes
  something, as the hidden field `csrf_token`; scripts send it as the X-CSRF-Token header, read from
  `<meta name="csrf-token">`).

A page module declares its strings once, `STRINGS: Strings = {"key": ("Tiếng Việt", "English"), ...}`, and passes
them to `render`; a key missing in both the page's and the base strings fails the render (KeyError), never shows a
key to a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from loa_ingest.accounts import Session

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")
DEFAULT_LANG: Lang = "vi"
LANG_COOKIE = "loa_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
# (Vietnamese, English) for each key.
Strings = Mapping[str, tuple[str, str]]

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)

# What the base layout says on every page.
BASE_STRINGS: Strings = {
    "app_name": ("Loa", "Loa"),
    "tagline": (
        "Tải video sự kiện lên một lần, đăng lên mọi kênh của phường.",
        "Upload event footage once, publish it to every ward channel.",
    ),
    "other_language": ("English", "Tiếng Việt"),
    "signed_in_as": ("Đang đăng nhập:", "Signed in as:"),
    "signout": ("Đăng xuất", "Sign out"),
    "two_step": ("Xác minh hai bước", "Two-step verification"),
    "upload_page": ("Tải video", "Upload"),
    "skip_to_content": ("Tới nội dung chính", "Skip to the main content"),
}


def language_of(request: Request) -> Lang:
    """?lang= first (a tap on the language link), then the cookie it left, else Vietnamese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        for lang in LANGS:
            if candidate == lang:
                return lang
    return DEFAULT_LANG


def say(strings: Strings, key: str, lang: Lang) -> str:
    vietnamese, english = strings[key]
    return vietnamese if lang == "vi" else english


def render(
    request: Request,
    template: str,
    strings: Strings,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    person: str | None = None,
    csrf_token: str | None = None,
) -> HTMLResponse:
    """The page `template` (which extends base.html) in the request's language, with `strings` and `context`."""
    lang = language_of(request)
    merged = {**BASE_STRINGS, **strings}

    def t(key: str) -> str:
        return say(merged, key, lang)

    def lang_url(code: Lang) -> str:
        return str(request.url.include_query_params(lang=code))

    values = {
        "lang": lang,
        "other_lang": "en" if lang == "vi" else "vi",
        "t": t,
        "lang_url": lang_url,
        "person": person,
        "csrf_token": csrf_token,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if request.query_params.get("lang") in LANGS and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, samesite="lax", path="/")
    return response


# How a page finds the signed-in person's session in a request (the Gate's, loa_ingest/signin.py).
SessionOf = Callable[[Request], Session | None]


def sign_in_first(session_of: SessionOf) -> Callable[[Request], Session | None]:
    """The pages' dependency: a browser that is neither signed in nor sending a token goes to the sign-in page
    first, and comes back to the page it asked for after; otherwise the session (None for a token)."""

    def signed_in(request: Request) -> Session | None:
        session = session_of(request)
        if "authorization" not in request.headers and session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": f"/signin?next={quote(target)}"})
        return session

    return signed_in
