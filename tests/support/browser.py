"""Headless Chromium for the e2e page tests: Debian's package driven by Playwright (no browser is ever downloaded),
and the folder where the pages' screenshots are kept (git-ignored; CI keeps it as the run's artifacts)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright, ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}  # a common phone's CSS pixels


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def screenshots(page: Page, folder: Path, name: str, mask: Sequence[Locator] = ()) -> None:
    """The page as it is now, whole, at desktop and at phone width (`<name>-desktop.png`, `<name>-phone.png`), with
    what `mask` finds blacked out (a secret on the page)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True, mask=list(mask))
    page.set_viewport_size(size)
