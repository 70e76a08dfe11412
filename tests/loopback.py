"""A loopback HTTP server for download tests (tests never touch the network)."""
from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Iterator


@contextlib.contextmanager
def serve(bodies: dict[str, bytes], gate: threading.Event | None = None) -> Iterator[tuple[str, list[str]]]:
    """Serve ``bodies`` (path -> bytes, in 64 KiB writes) on 127.0.0.1; yields (base URL, paths requested).
    With ``gate``, every response waits for it after its first 64 KiB (a download caught mid-way)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i:i + (1 << 16)])
                    if gate is not None and i == 0:
                        self.wfile.flush()
                        gate.wait(30)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cancelled

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", hits
    finally:
        srv.shutdown()
        srv.server_close()
