"""A small web server on 127.0.0.1 that serves exam pages written in a test, standing in for an
LMS (the pages are cross-origin to the openproctor server, as on a real LMS)."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from typing import Any


class ExamHost:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, dict[str, str]]] = {}
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                body, headers = host.pages.get(path, (b"not found", {}))
                self.send_response(200 if path in host.pages else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, html: str, headers: dict[str, str] | None = None) -> str:
        """Serve ``html`` at ``path`` (with extra response ``headers``, e.g. a CSP); returns
        the page's URL."""
        if not path.startswith("/"):
            raise ValueError(f"a path starts with '/': {path!r}")
        self.pages[path] = (html.encode(), dict(headers or {}))
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
