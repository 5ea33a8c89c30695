"""An HTTP endpoint on 127.0.0.1 that records what it is sent: the peer of the tests of
HTTP hooks and team webhooks."""
from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = Callable[[Received], "tuple[int, bytes]"]


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)


@contextlib.contextmanager
def http_receiver(answer: Answer | None = None, content_type: str = "application/json") -> Iterator[Receiver]:
    """A server for the block; every request is recorded, then answered by `answer`
    (default: 200 "ok") as `content_type`."""
    receiver = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got = Received(self.command, self.path, dict(self.headers),
                           self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            receiver.requests.append(got)
            status, body = answer(got) if answer else (200, b"ok")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_PUT = do_GET = do_POST

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
