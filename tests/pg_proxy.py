"""A TCP proxy in front of the shared PostgreSQL server that can cut one client
off (as a restart or a lost network would) without touching the server the
other tests use: while cut, live connections are dropped and new ones are
accepted and closed at once."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class CuttableProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._cut = False
        self.refused = 0  # connections turned away while cut
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port pointed at this proxy."""
        scheme, rest = database_url.split("://", 1)
        user, rest = rest.split("@", 1)
        return f"{scheme}://{user}@127.0.0.1:{self.port}/{rest.split('/', 1)[1]}"

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            live, self._live = self._live, set()
        for sock in live:
            _drop(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                cut = self._cut
                self.refused += cut
            if cut:
                _drop(client)
                continue
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _drop(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._live |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with self._lock:
            self._live -= {src, dst}
        _drop(src)
        _drop(dst)


def _drop(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
