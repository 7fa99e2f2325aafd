"""Open an HTML report in headless Chromium and check what a reader would get.

:func:`check_report` loads a file once, dumping the DOM after load and taking
a screenshot, with every network path closed and watched (:func:`load`), then
checks the page (:func:`assert_page`):

- all traffic is sent to a local logging proxy (loopback included), which
  answers nothing; other host names resolve to nowhere. The page must make
  no request: the proxy's log may hold only Chromium's own background calls
  to the hosts in :data:`BROWSER_HOSTS` (update checks, network time,
  account probes), which it makes even with background networking off;
- the DOM after load must hold the expected tables, figures (inline
  ``<svg>``) and element ids, and no ``<script>`` (the reports need no
  JavaScript, and an escaped hostile string must not become one), no
  ``<link>``/``<iframe>``/``<object>``/``<embed>`` and no ``src``: the
  report's own CSP would block such loads silently, so they are caught here;
- the screenshot must not be blank (enough non-white pixels, some variance).

Where no Chromium exists the tests skip with a reason saying how to install
it (``apt-get install chromium``); ``.ci/run`` installs it.
"""

from __future__ import annotations

import html.parser
import pathlib
import shutil
import socketserver
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field

import matplotlib.image
import numpy as np
import pytest

from tests.hang_guard import BROWSER_S

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
)

BROWSER_HOSTS = ("update.googleapis.com", "clients2.google.com", "accounts.google.com")
"""Hosts Chromium itself calls at start-up, whatever the page; not counted as page requests."""


def find_chromium() -> str | None:
    """The path of a Chromium-family browser, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The browser's path; skips the calling test, loudly, when there is none."""
    path = find_chromium()
    if path is None:
        pytest.skip(
            "BROWSER TEST SKIPPED: no chromium on PATH (install Debian's `chromium`, "
            "as .ci/run does) - the report was not checked in a browser"
        )
    return path


class _LoggingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that records each request line and forwards nothing."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if line:
            self.server.requests.append(line)  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


def _from_browser(request_line: str) -> bool:
    """True for a request line Chromium sends on its own (to :data:`BROWSER_HOSTS`)."""
    parts = request_line.split()
    target = parts[1] if len(parts) > 1 else ""
    host = target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in BROWSER_HOSTS


class _DomCounter(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.ids: set[str] = set()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.ids.update(v for k, v in attrs if k == "id" and v)
        self.sources.extend(v for k, v in attrs if k in ("src", "srcset", "data") and v)


@dataclass
class PageLoad:
    """What Chromium made of one HTML file."""

    dom: str
    screenshot: np.ndarray
    requests: list[str] = field(default_factory=list)
    tags: Counter[str] = field(default_factory=Counter)
    ids: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    @property
    def ink(self) -> float:
        """Fraction of screenshot pixels that are not (near) white."""
        rgb = self.screenshot[..., :3]
        return float(np.mean(rgb.min(axis=-1) < 0.9))


def load(html_file: pathlib.Path, workdir: pathlib.Path, height: int = 2400) -> PageLoad:
    """Load ``html_file`` in headless Chromium; return its DOM, screenshot and network log."""
    browser = require_chromium()
    proxy = _LoggingProxy()
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    port = proxy.server_address[1]
    url = html_file.resolve().as_uri()
    shot = workdir / "screenshot.png"
    command = [
        browser,
        *FLAGS,
        f"--user-data-dir={workdir / 'chromium-profile'}",
        f"--proxy-server=http://127.0.0.1:{port}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--window-size=1280,{height}",
        f"--screenshot={shot}",
        "--dump-dom",
        url,
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BROWSER_S, check=False
        )
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert done.returncode == 0, f"chromium exit {done.returncode}: {done.stderr[-2000:]}"
    counter = _DomCounter()
    counter.feed(done.stdout)
    return PageLoad(
        dom=done.stdout,
        screenshot=matplotlib.image.imread(shot),
        requests=[r for r in proxy.requests if not _from_browser(r)],
        tags=counter.tags,
        ids=counter.ids,
        sources=counter.sources,
    )


def assert_page(
    page: PageLoad, *, min_tables: int = 1, min_figures: int = 0, ids: tuple[str, ...] = ()
) -> None:
    """Assert: no request, no script or embedded resource, the expected DOM, a non-blank page."""
    assert page.requests == [], f"the page made network requests: {page.requests}"
    assert page.tags["script"] == 0, "the page holds a <script> element"
    external = [page.tags[t] for t in ("link", "iframe", "object", "embed")]
    assert not any(external), "the page embeds external resources (link/iframe/object/embed)"
    assert not page.sources, f"the page loads resources: {page.sources[:5]}"
    assert page.tags["table"] >= min_tables, f"{page.tags['table']} tables, want {min_tables}+"
    assert page.tags["svg"] >= min_figures, f"{page.tags['svg']} inline SVGs, want {min_figures}+"
    missing = [i for i in ids if i not in page.ids]
    assert not missing, f"elements missing from the DOM: {missing}"
    assert page.screenshot.std() > 0.05, "the screenshot is (nearly) uniform"
    assert page.ink > 0.01, f"the screenshot is nearly blank ({page.ink:.2%} non-white pixels)"


def check_report(
    html_file: pathlib.Path,
    workdir: pathlib.Path,
    *,
    min_tables: int = 1,
    min_figures: int = 0,
    ids: tuple[str, ...] = (),
) -> PageLoad:
    """Load ``html_file`` in Chromium and :func:`assert_page` it; return the page."""
    page = load(html_file, workdir)
    assert_page(page, min_tables=min_tables, min_figures=min_figures, ids=ids)
    return page
