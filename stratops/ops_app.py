"""The operator page's HTTP routes (FastAPI): the page, its data as JSON and as a stream of
server-sent events, the trace view, sign-in, and the governed actions (README, Operator web
page). Reads need no sign-in; every POST that changes something needs the session cookie
and its CSRF header, and is refused and audited without them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from live.governance.promotion import GovernanceRefusal
from stratops.ops_auth import (
    COOKIE,
    CSRF_HEADER,
    LoginRefused,
    NotSignedIn,
    Session,
    TooManyChallenges,
)
from stratops.ops_page import PAGE
from stratops.ops_server import OpsServer

STREAM_TICK_SECONDS = 0.02  # how often a stream checks for a new version
KEEPALIVE_SECONDS = 15.0
_NAME = r"^[A-Za-z0-9_.-]{1,100}$"


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=8000)


class KillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(pattern=_NAME)  # a strategy or "all"
    mode: str = Field(pattern=r"^(halt|reduce|flatten)$")
    reason: str = Field(min_length=1, max_length=500)


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: str = Field(pattern=_NAME)
    reason: str = Field(min_length=1, max_length=500)


class RearmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(pattern=_NAME)
    reason: str = Field(min_length=1, max_length=500)


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def create_app(server: OpsServer) -> FastAPI:
    """The app over ``server`` (its poller is started and stopped with the app)."""
    app = FastAPI(title="stratops operator page", docs_url=None, redoc_url=None,
                  openapi_url=None)
    _read_routes(app, server)
    _auth_routes(app, server)
    _action_routes(app, server)
    return app


def _read_routes(app: FastAPI, server: OpsServer) -> None:
    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": "default-src 'self'; "
                                           "script-src 'unsafe-inline'; style-src "
                                           "'unsafe-inline'; frame-ancestors 'none'",
                                           "X-Frame-Options": "DENY"})

    @app.get("/api/state")
    def state() -> Response:
        return Response(server.encoded, media_type="application/json")

    @app.get("/api/trace/{trace_id}")
    def trace(trace_id: str) -> JSONResponse:
        return JSONResponse({"trace_id": trace_id, "entries": server.trace(trace_id)})

    @app.get("/api/events")
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            seen, idle = -1, 0.0
            while not await request.is_disconnected():
                if server.version != seen:
                    seen = server.version
                    yield f"id: {seen}\nevent: state\ndata: {server.encoded}\n\n"
                    idle = 0.0
                elif idle >= KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    idle = 0.0
                await asyncio.sleep(STREAM_TICK_SECONDS)
                idle += STREAM_TICK_SECONDS

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def _session_json(session: Session | None) -> dict[str, Any]:
    if session is None:
        return {"user": None}
    return {"user": session.user, "roles": list(session.roles), "csrf": session.csrf,
            "expires": session.expires.isoformat()}


def _auth_routes(app: FastAPI, server: OpsServer) -> None:
    @app.post("/api/challenge")
    def challenge() -> JSONResponse:
        try:
            text = server.auth.new_challenge()
        except TooManyChallenges as exc:
            return _refused(429, str(exc))
        return JSONResponse({"challenge": text,
                             "expires_in_seconds": server.settings.ops.challenge_ttl_seconds})

    @app.post("/api/login")
    def login(body: LoginBody) -> JSONResponse:
        try:
            session = server.auth.login(body.token)
        except LoginRefused as exc:
            return _refused(403, str(exc))
        response = JSONResponse({"ok": True} | _session_json(session))
        max_age = int((session.expires - server.clock()).total_seconds())
        response.set_cookie(COOKIE, session.id, max_age=max_age, httponly=True,
                            samesite="strict", secure=server.settings.ops.secure_cookie,
                            path="/")
        return response

    @app.get("/api/session")
    def current(request: Request) -> JSONResponse:
        return JSONResponse(_session_json(server.auth.current(request.cookies.get(COOKIE))))

    @app.post("/api/logout")
    def logout(request: Request) -> JSONResponse:
        server.auth.logout(request.cookies.get(COOKIE))
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response


def _action_routes(app: FastAPI, server: OpsServer) -> None:
    """Each action checks the session first, then its body: a refusal of either kind is
    audited (FastAPI's own body validation would answer 422 before anything is recorded)."""
    from stratops import ops_actions

    async def run(request: Request, action: str, model: type[BaseModel],
                  call: Callable[[Any, Any], ops_actions.ActionResult]) -> JSONResponse:
        try:
            session = server.auth.session(request.cookies.get(COOKIE),
                                          request.headers.get(CSRF_HEADER), action)
        except NotSignedIn as exc:
            return _refused(401, str(exc))
        try:
            body = model.model_validate_json(await request.body())
        except ValidationError as exc:
            reason = f"bad request body: {exc.errors(include_url=False)}"[:500]
            server.audit_refusal(session.user, action, reason)
            return _refused(422, f"{action} refused: {reason} (audited)")
        try:
            result = await run_in_threadpool(call, body, server.auth.signer(session))
        except GovernanceRefusal as exc:  # audited by the governance service
            return _refused(403, f"{exc} (audited)")
        await run_in_threadpool(server.refresh, promotion=True)
        return JSONResponse({"ok": True, "ref": result.ref, "message": result.message,
                             "user": session.user,
                             "checkpoint_problems": result.checkpoint_problems})

    @app.post("/api/kill")
    async def kill(request: Request) -> JSONResponse:
        return await run(request, "kill_switch", KillBody, lambda body, sign: ops_actions.kill(
            server.settings, sign, body.scope, body.mode, body.reason))

    @app.post("/api/pause")
    async def pause(request: Request) -> JSONResponse:
        return await run(request, "kill_switch", PauseBody, lambda body, sign: ops_actions.kill(
            server.settings, sign, body.strategy, "halt", f"paused: {body.reason}"))

    @app.post("/api/rearm")
    async def rearm(request: Request) -> JSONResponse:
        return await run(request, "rearm_request", RearmBody,
                         lambda body, sign: ops_actions.rearm_request(
                             server.settings, sign, body.scope, body.reason))
