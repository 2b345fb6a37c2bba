"""An overall deadline for one HTTP download, headers and body alike (the kit's one downloader: core.download).

A socket timeout only bounds each read: a server that sends one byte every few seconds never
trips it. The watchdog shuts the connection's socket down when the deadline passes, which ends
whatever read is blocked on it (urllib has no hook between its reads of the headers); the caller
then sees `expired` and reports the deadline instead of a short read.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request


class Watchdog:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:  # connected after the deadline: do not let it read at all
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also under TLS: it wakes a blocked read without touching TLS state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _tracked(base: type, watchdog: Watchdog) -> type:
    class Tracked(base):
        def connect(self):
            super().connect()
            watchdog.track(self.sock)

    return Tracked


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog):
        super().__init__()
        self.connection = _tracked(http.client.HTTPConnection, watchdog)

    def http_open(self, req):
        return self.do_open(self.connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog):
        super().__init__()  # the default context: certificates and host names are checked
        self.connection = _tracked(http.client.HTTPSConnection, watchdog)

    def https_open(self, req):
        return self.do_open(self.connection, req, context=self._context)


def handlers(watchdog: Watchdog) -> list[urllib.request.BaseHandler]:
    """Handlers for build_opener whose connections the watchdog can shut."""
    return [_HTTPHandler(watchdog), _HTTPSHandler(watchdog)]
