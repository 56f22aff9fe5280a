"""The fake Kite's REST server: a stdlib threading HTTP server speaking Kite Connect v3.

Answers are ``{"status": "success", "data": ...}`` (JSON) or the instruments dump (CSV);
errors are ``{"status": "error", "error_type": ..., "message": ..., "data": null}`` with the
HTTP status Kite uses, which ``kiteconnect.KiteConnect`` maps to its exception classes. Every
route but ``POST /session/token`` needs ``Authorization: token api_key:access_token``.
Faults (slow answers, HTTP 429 / 5xx) are taken from :class:`~tests.fake_kite.faults.Faults`
before routing. The routes themselves are methods of the ``api`` object (the fake).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from tests.fake_kite.faults import ERROR_TYPES, Faults
from tests.fake_kite.fields import KiteApiError

Params = dict[str, Any]


class RestApi(Protocol):
    """What the REST server calls on the fake."""

    faults: Faults

    def authorized(self, header: str | None) -> bool: ...

    def route(self, method: str, path: str, params: Params, body: Any) -> Any: ...

    def record(self, request: RequestRecord) -> None: ...


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake answered: what was asked, the HTTP status it got, and whether it
    was applied (False when a fault answered instead)."""

    method: str
    path: str
    params: Params
    status: int
    applied: bool


class Csv(bytes):
    """A route answer sent as ``text/csv`` instead of the JSON envelope."""


_TOKEN_ERROR = KiteApiError(403, "TokenException", "Incorrect `api_key` or `access_token`.")
_PUBLIC = re.compile(r"^/session/token$")


class RestServer:
    """Serves ``api`` on ``host`` at a free port in a daemon thread."""

    def __init__(self, host: str, api: RestApi) -> None:
        handler = _handler_for(api)
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="fake-kite-rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(api: RestApi) -> type[BaseHTTPRequestHandler]:
    return type("FakeKiteHandler", (_Handler,), {"api": api})


class _Handler(BaseHTTPRequestHandler):
    """One request: faults first, then the auth check and the route."""

    api: RestApi

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        params: Params = {k: v[0] if len(v) == 1 else v
                          for k, v in parse_qs(url.query).items()}
        body = self._body()
        if isinstance(body, dict):
            params.update(body)
        delay = self.api.faults.take_delay(url.path)
        if delay:
            time.sleep(delay)
        fault = self.api.faults.take_http(url.path)
        status = 200
        if fault is None or fault.after_processing:
            answer = _answer(self.api, method, url.path, params, body, self.headers.get(
                "Authorization"))
            status = answer.http_status if isinstance(answer, KiteApiError) else 200
        self.api.record(RequestRecord(method, url.path, params, fault.status if fault else status,
                                      applied=fault is None or fault.after_processing))
        if fault is not None:
            self._error(fault.status, *ERROR_TYPES[fault.status])
        elif isinstance(answer, KiteApiError):
            self._error(answer.http_status, answer.error_type, answer.message)
        elif (garble := self.api.faults.take_garble(url.path)) is not None:
            if garble.raw is not None:
                self._send(200, "application/json", garble.raw)
            else:
                self._json(200, {"status": "success", "data": garble.data})
        elif isinstance(answer, Csv):
            self._send(200, "text/csv", bytes(answer))
        else:
            self._json(200, {"status": "success", "data": answer})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "json" in (self.headers.get("Content-Type") or ""):
            return json.loads(raw)
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}

    def _error(self, status: int, error_type: str, message: str) -> None:
        self._json(status, {"status": "error", "error_type": error_type,
                            "message": message, "data": None})

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, "application/json", json.dumps(payload, default=str).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a slow answer past its timeout)


def _answer(api: RestApi, method: str, path: str, params: Params, body: Any,
            authorization: str | None) -> Any:
    if not _PUBLIC.match(path) and not api.authorized(authorization):
        return _TOKEN_ERROR
    try:
        return api.route(method, path, params, body)
    except KiteApiError as exc:
        return exc

