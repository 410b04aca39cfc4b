"""Open a local HTML file in headless Chromium and record what happened.

Playwright drives Debian's ``chromium`` (never a downloaded browser build); a raw Chrome
DevTools Protocol session on the page records every network request
(``Network.requestWillBeSent``) and every console message, uncaught exception and browser
log entry (``Runtime.*``, ``Log.entryAdded``), so nothing the page does goes unseen.

Also a script, to refresh the README's screenshot::

    python tests/unit/chromium_page.py report.html docs/report-en.png
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

#: Quiet, offline Chromium: as root it needs --no-sandbox; the rest stop it from calling home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)


def find_chromium() -> str | None:
    """Debian's chromium binary, or the one ``SQLA_LAB_CHROMIUM`` names."""
    return os.environ.get("SQLA_LAB_CHROMIUM") or shutil.which("chromium")


@dataclass
class Visit:
    """What a page did while it loaded."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    page_width: int = 0
    viewport_width: int = 0
    lang: str = ""
    text: str = ""
    #: The fonts Chromium drew the ``fonts_for`` element's text with (family name, glyphs).
    fonts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        """Console messages of level error or warning, and uncaught exceptions."""
        return [text for level, text in self.console if level in ("error", "warning")] + [
            *self.errors
        ]


_INSPECT = """() => ({
  sections: [...document.querySelectorAll("section[id]")].map(s => s.id),
  charts: [...document.querySelectorAll("figure[data-chart]")].map(f => {
    const svg = f.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : null;
    return {
      key: f.dataset.chart,
      kind: f.dataset.kind,
      width: box ? box.width : 0,
      height: box ? box.height : 0,
      marks: svg ? svg.querySelectorAll("path, use, text").length : 0,
    };
  }),
  pageWidth: document.documentElement.scrollWidth,
  viewportWidth: window.innerWidth,
  lang: document.documentElement.lang,
  text: document.body.innerText,
})"""


def _exception_text(details: dict[str, Any]) -> str:
    description = details.get("exception", {}).get("description")
    return f"{details['text']} {description}" if description else str(details["text"])


def visit(
    path: Path,
    *,
    chromium: str,
    screenshot: Path | None = None,
    width: int = 1280,
    height: int = 900,
    fonts_for: str | None = None,
) -> Visit:
    """Load ``path`` in headless Chromium, inspect it and optionally save a full-page PNG;
    ``fonts_for`` (a CSS selector) asks which fonts drew that element's text
    (``CSS.getPlatformFontsForNode``: a missing glyph shows as no font with glyphs)."""
    result = Visit()
    with (
        tempfile.TemporaryDirectory(prefix="sqla-lab-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
            offline=True,
        )
        try:
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.on(
                "Network.requestWillBeSent",
                lambda event: result.requests.append(event["request"]["url"]),
            )
            cdp.on(
                "Runtime.consoleAPICalled",
                lambda event: result.console.append(
                    (event["type"], " ".join(str(a.get("value", "")) for a in event["args"]))
                ),
            )
            cdp.on(
                "Runtime.exceptionThrown",
                lambda event: result.errors.append(_exception_text(event["exceptionDetails"])),
            )
            cdp.on(
                "Log.entryAdded",
                lambda event: result.console.append(
                    (event["entry"]["level"], event["entry"]["text"])
                ),
            )
            for domain in ("Network", "Runtime", "Log"):
                cdp.send(f"{domain}.enable")
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=30_000)
            # Rendering settles after load; give late requests and errors a moment to show.
            page.wait_for_timeout(300)
            found = page.evaluate(_INSPECT)
            result.sections = found["sections"]
            result.charts = found["charts"]
            result.page_width = found["pageWidth"]
            result.viewport_width = found["viewportWidth"]
            result.lang = found["lang"]
            result.text = found["text"]
            if fonts_for is not None:
                cdp.send("DOM.enable")
                cdp.send("CSS.enable")
                root = cdp.send("DOM.getDocument")["root"]["nodeId"]
                node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": fonts_for})
                fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})
                result.fonts = [(f["familyName"], f["glyphCount"]) for f in fonts["fonts"]]
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return result


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    binary = find_chromium()
    if binary is None:
        sys.exit("chromium is not installed")
    seen = visit(source, chromium=binary, screenshot=target)
    print(f"{len(seen.requests)} requests, {len(seen.console_errors)} console errors, {target}")
