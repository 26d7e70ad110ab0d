"""A real browser iterates a channel cross-origin: protocol.md "Subscriber (GET)":
"Every subscriber response carries Access-Control-Allow-Origin and
Access-Control-Expose-Headers ... A real browser client must be able to iterate
a channel cross-origin."

Needs Debian's `chromium` and `nodejs`/`npm`, and `npm ci` in integration/browser
(browser_page.py); skipped with the reason when any is missing.
"""

from browser_page import BROWSER_START, browser_page  # noqa: F401 (a fixture)
from conftest import WAIT, wait_until
from client import publish, subscriber_count


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
    browser = browser_page("longpoll.html", sub=server.sub_url("browser"), n=3)
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
    browser = browser_page("longpoll.html", sub=server.sub_url("queued"), n=3)
    reports = [browser.next_report(timeout=BROWSER_START if i == 0 else WAIT)
               for i in range(len(bodies))]
    browser.finish()
    assert_in_order(reports, bodies)
