"""A real OAuth2 token endpoint on 127.0.0.1 over HTTPS (certificate from the test CA)."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class TokenEndpoint:
    """What the endpoint answers (``answer``: status and JSON, or bytes sent as they are)
    and the forms it received."""

    url: str
    answer: tuple[int, dict] = (200, {"access_token": "at-1", "expires_in": 3600})
    requests: list[dict] = field(default_factory=list)
    #: Answers by path, used in turn (the last one repeats) before ``answer``.
    scripted: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    #: The root of the endpoint's URLs (``url`` is root + "/token").
    root: str = ""
    #: Demand HTTP Basic client authentication (client_secret_basic): a request without it
    #: is answered 401 invalid_client, like a server with only RFC 6749's must-have method.
    require_basic: bool = False
    #: The Authorization header of each request ('' when none), in order.
    authorizations: list[str] = field(default_factory=list)


@contextmanager
def running_token_endpoint(context: ssl.SSLContext):
    """Serve POST /token until the block ends; yields a :class:`TokenEndpoint`."""
    endpoint = TokenEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            endpoint.requests.append(
                {"path": self.path} | {key: values[0] for key, values in form.items()}
                if self.path != "/token"
                else {key: values[0] for key, values in form.items()}
            )
            authorization = self.headers.get("Authorization") or ""
            endpoint.authorizations.append(authorization)
            queue = endpoint.scripted.get(self.path)
            if endpoint.require_basic and not authorization.startswith("Basic "):
                status, data = 401, {"error": "invalid_client", "error_description": "Basic"}
            elif queue:
                status, data = queue.pop(0) if len(queue) > 1 else queue[0]
            else:
                status, data = endpoint.answer
            body = data if isinstance(data, bytes) else json.dumps(data).encode()  # bytes: raw
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    endpoint.root = f"https://127.0.0.1:{server.server_address[1]}"
    endpoint.url = endpoint.root + "/token"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
