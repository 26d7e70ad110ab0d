"""A real browser iterates a channel cross-origin: protocol.md "Subscriber (GET)":
"Every subscriber response carries Access-Control-Allow-Origin and
Access-Control-Expose-Headers ... A real browser client must be able to iterate
a channel cross-origin."

Needs Debian's `chromium` and `nodejs`/`npm`, and `npm ci` in integration/browser
(playwright-core drives the browser); skipped with the reason when any is missing.
"""
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

from conftest import WAIT, wait_until
from client import publish, subscriber_count

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Chromium's first start is slow on a cold machine; every other wait is WAIT.
BROWSER_START = 60.0


def require_browser():
    # `make test` installs all of these and sets PUSHRELAY_REQUIRE_BROWSER: there a
    # missing piece is a failure, not a skip.
    missing = None
    if not CHROMIUM.exists():
        missing = "no /usr/bin/chromium: apt-get install -y chromium"
    elif shutil.which("node") is None:
        missing = "no node: apt-get install -y nodejs npm"
    elif not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing = "playwright-core missing: cd integration/browser && npm ci"
    if missing and os.environ.get("PUSHRELAY_REQUIRE_BROWSER"):
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)


class PageServer:
    """Serves integration/browser/longpoll.html from its own loopback port, so the
    page's origin differs from the subscriber's."""

    def __init__(self):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=str(BROWSER_DIR))
        handler.log_message = lambda *args: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, sub_url, count):
        port = self.httpd.server_address[1]
        sub = urllib.parse.quote(sub_url, safe="")
        return f"http://127.0.0.1:{port}/longpoll.html?sub={sub}&n={count}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser:
    """node drive.js on a page: each report of the page arrives on lines()."""

    def __init__(self, page_url):
        self.proc = subprocess.Popen(
            ["node", "drive.js", page_url, str(int((BROWSER_START + 4 * WAIT) * 1000))],
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
            raise AssertionError(f"the page reported nothing: {''.join(self.stderr)}")
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
    """Starts the page server; yields a function that opens the page in Chromium."""
    require_browser()
    pages = PageServer()
    browsers = []

    def open_page(sub_url, count):
        browser = Browser(pages.url(sub_url, count))
        browsers.append(browser)
        return browser

    yield open_page
    for browser in browsers:
        browser.close()
    pages.close()


def assert_in_order(reports, bodies):
    assert [r["status"] for r in reports] == [200] * len(bodies)
    assert [r["body"] for r in reports] == bodies
    ids = [(r["lastModified"], int(r["etag"])) for r in reports]
    assert len(set(ids)) == len(ids), ids


def test_browser_long_polls_cross_origin(pushrelay, browser_page):
    """Subscriber: every response carries Access-Control-Allow-Origin and
    -Expose-Headers: Last-Modified, Etag → a fetch() long-poll loop on another
    origin reads the ids, sends them back, and gets 3 published messages in order."""
    server = pushrelay()
    browser = browser_page(server.sub_url("browser"), 3)
    bodies = ["first", "second: ünïcødé", "third"]
    reports = []
    for i, body in enumerate(bodies):
        # The page's next long-poll is held: the first waits for Chromium to start.
        wait_until(lambda: subscriber_count(server.pub_url("browser")) == 1,
                   timeout=BROWSER_START if i == 0 else WAIT, what="the page's long-poll")
        r = publish(server.pub_url("browser"), body.encode(),
                    {"Content-Type": "text/plain; charset=utf-8"})
        assert r.status_code == 201
        reports.append(browser.next_report())
    browser.finish()
    assert_in_order(reports, bodies)


def test_browser_iterates_queued_messages_cross_origin(pushrelay, browser_page):
    """Message identity: sending Last-Modified / Etag back asks for the next
    message → a cross-origin page reads 3 queued messages in order."""
    server = pushrelay()
    bodies = ["one", "two", "three"]
    for body in bodies:
        assert publish(server.pub_url("queued"), body.encode()).status_code == 202
    browser = browser_page(server.sub_url("queued"), 3)
    reports = [browser.next_report(timeout=BROWSER_START if i == 0 else WAIT)
               for i in range(len(bodies))]
    browser.finish()
    assert_in_order(reports, bodies)
