"""A real HTTP origin for the GRIP tests: python's http.server in a thread, told per test what
to answer."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Origin:
    """A real HTTP origin: `routes` maps a path to handler(request) -> (status, headers, body)
    or None (the handler wrote the answer itself); every request is recorded."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length) if length else b""
                origin.requests.append(self)
                route = origin.routes.get(self.path.split("?")[0])
                answer = route(self) if route else (404, [], b"no route\n")
                if answer is None:
                    return
                status, headers, body = answer
                self.send_response_only(status, dict(headers).get("__reason"))
                for name, value in headers:
                    if name != "__reason":
                        self.send_header(name, value)
                if not any(n.lower() == "content-length" for n, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()
