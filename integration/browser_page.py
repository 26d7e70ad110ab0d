"""Headless Chromium for the browser tests: a page server on its own loopback port (so every
request the page makes to pushrelay is cross-origin) and `node browser/drive.js`, which relays
each window.report(value) of the page as one JSON line.

Needs Debian's `chromium` and `nodejs`/`npm`, and `npm ci` in integration/browser
(playwright-core drives the browser; nchan is Nchan's own client, which pages load from
node_modules). A missing piece skips the test with the reason, or fails it when
PUSHRELAY_REQUIRE_BROWSER is set (`make test` sets it).
"""
import functools
import http.server
import json
import queue
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import WAIT, missing_npm_modules, require

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Chromium's first start is slow on a cold machine; every other wait is WAIT.
BROWSER_START = 60.0


def require_browser(node_modules=("playwright-core",)):
    """Skips (or, under PUSHRELAY_REQUIRE_BROWSER, fails) the test when Chromium, node or one of
    `node_modules` is missing."""
    if not CHROMIUM.exists():
        require("no /usr/bin/chromium: apt-get install -y chromium")
    require(missing_npm_modules(BROWSER_DIR, node_modules))


class PageServer:
    """Serves integration/browser/ (its pages and node_modules) from its own loopback port, so
    the page's origin differs from pushrelay's."""

    def __init__(self):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(BROWSER_DIR))
        handler.log_message = lambda *args: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: shutdown() waits for it.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, page, **query):
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}/{page}?{urllib.parse.urlencode(query)}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser:
    """node drive.js on a page: each report of the page arrives by next_report()."""

    def __init__(self, page_url, timeout=BROWSER_START + 4 * WAIT):
        self.proc = subprocess.Popen(
            ["node", "drive.js", page_url, str(int(timeout * 1000))],
            cwd=BROWSER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reports = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.reports.put),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append),
                         daemon=True).start()

    @staticmethod
    def _read(stream, sink):
        for line in stream:
            sink(line)

    def next_report(self, timeout=WAIT):
        try:
            report = json.loads(self.reports.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"the page reported nothing: {''.join(self.stderr)}") from None
        assert "error" not in report, (report, "".join(self.stderr))
        return report

    def finish(self):
        assert self.proc.wait(timeout=WAIT) == 0, "".join(self.stderr)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)


@pytest.fixture
def browser_page():
    """Starts the page server; yields open_page(page, **query), which opens
    integration/browser/<page>?<query> in Chromium and returns its Browser. Everything started
    is stopped after the test."""
    require_browser()
    pages = PageServer()
    browsers = []

    def open_page(page, **query):
        browser = Browser(pages.url(page, **query))
        browsers.append(browser)
        return browser

    yield open_page
    for browser in browsers:
        browser.close()
    pages.close()

