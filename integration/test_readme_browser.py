"""The README's browser example works as written: its <script> runs in Chromium on a page of
another origin, against pushrelay serving dist/pushrelay.conf (only the two ports are the test's
own), and both its EventSource and its WebSocket print every message published."""
import base64
import re
from pathlib import Path

from browser_page import browser_page  # noqa: F401 (fixture)
from client import publish, wait_for_subscribers
from conftest import PushRelay

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"```html\n<script>\n(.*?)</script>\n```", re.S)


def readme_script(sub_port):
    match = EXAMPLE.search((ROOT / "README.md").read_text())
    assert match, "README.md has no ```html <script> example"
    return match.group(1).replace("127.0.0.1:8088", f"127.0.0.1:{sub_port}")


def dist_conf_server(directory):
    """pushrelay on dist/pushrelay.conf as shipped, its ports swapped for free ones (not
    started)."""
    server = PushRelay(directory)
    conf = (ROOT / "dist/pushrelay.conf").read_text()
    conf = conf.replace("127.0.0.1:8089", f"127.0.0.1:{server.pub}")
    conf = conf.replace("127.0.0.1:8088", f"127.0.0.1:{server.sub}")
    server.conf.write_text("daemon off;\n" + conf)
    return server


def test_readme_browser_example(tmp_path, browser_page):  # noqa: F811
    """README "A first session": the browser's EventSource and WebSocket (ws+meta.nchan) on
    channel news each print both messages, in order."""
    server = dist_conf_server(tmp_path)
    try:
        server.start()
        check_example(server, browser_page)
    finally:
        server.stop()


def check_example(server, browser_page):  # noqa: F811
    code = base64.b64encode(readme_script(server.sub).encode()).decode()
    browser = browser_page("readme.html", code=code)
    assert browser.next_report()["kind"] == "started"
    wait_for_subscribers(server.pub_url("news"), 2)
    for body in ("hello", "world"):
        assert publish(server.pub_url("news"), body.encode()).status_code == 201
    logs = [browser.next_report()["args"] for _ in range(4)]
    eventsource = [args for args in logs if args[0] == "EventSource"]
    websocket = [args for args in logs if args[0] == "WebSocket"]
    assert [args[2] for args in eventsource] == ["hello", "world"]
    assert all(re.fullmatch(r"\d+:\d+", args[1]) for args in eventsource)
    assert [re.sub(r"^id: \d+:\d+\n\n", "", args[1]) for args in websocket] == ["hello", "world"]
