"""A threaded HTTP server on 127.0.0.1 for the download tests: started and stopped as a context manager."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE = re.compile(r"bytes=(\d+)-$")


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_range(self, data: bytes, honour_range: bool = True) -> bytes | None:
        """Answer the headers for `data` as a Range-aware host does (200, 206 from an offset, 416 past the
        end) and return the body still to write, or None when nothing is to follow."""
        start, status = 0, 200
        match = RANGE.match(self.headers.get("Range") or "")
        if match and honour_range:
            start, status = int(match.group(1)), 206
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        return data[start:]


class LoopbackServer:
    """Subclasses build their handler class and call `serve(handler)`; `address` is http://127.0.0.1:PORT."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.address = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
