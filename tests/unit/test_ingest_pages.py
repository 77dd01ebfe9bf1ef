"""The pages' layout: Vietnamese by default, English one tap away (and remembered), every string in both."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from loa_ingest.pages import BASE_STRINGS, LANG_COOKIE, render

PAGE_STRINGS = {"greeting": ("Xin chào", "Hello")}


def page_app() -> FastAPI:
    app = FastAPI()

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        return render(request, "base.html", PAGE_STRINGS, person="Nguyễn Văn A", csrf_token="tok")

    return app


def test_vietnamese_by_default_english_by_link_then_cookie() -> None:
    client = TestClient(page_app())
    first = client.get("/page")
    assert first.status_code == 200
    assert '<html lang="vi">' in first.text and "Đăng xuất" in first.text
    assert 'href="http://testserver/page?lang=en"' in first.text
    assert LANG_COOKIE not in first.cookies

    english = client.get("/page?lang=en")
    assert '<html lang="en">' in english.text and "Sign out" in english.text
    assert english.cookies[LANG_COOKIE] == "en"
    assert '<html lang="en">' in client.get("/page").text  # remembered
    assert '<html lang="vi">' in client.get("/page?lang=vi").text


def test_the_layout_carries_the_csrf_token_and_escapes_what_it_shows() -> None:
    app = FastAPI()

    @app.get("/")
    async def page(request: Request) -> HTMLResponse:
        return render(request, "base.html", {}, person="<script>x</script>", csrf_token="abc")

    text = TestClient(app).get("/").text
    assert '<meta name="csrf-token" content="abc">' in text
    assert 'name="csrf_token" value="abc"' in text
    assert "<script>x</script>" not in text and "&lt;script&gt;" in text


def test_an_unknown_language_falls_back_to_vietnamese() -> None:
    client = TestClient(page_app())
    client.cookies.set(LANG_COOKIE, "de")
    text = client.get("/page?lang=fr").text
    assert '<html lang="vi">' in text


def test_every_base_string_is_written_in_both_languages() -> None:
    for key, (vietnamese, english) in BASE_STRINGS.items():
        assert vietnamese.strip() and english.strip(), key
