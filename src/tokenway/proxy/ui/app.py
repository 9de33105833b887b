"""``AdminUI``: the ``/ui`` pages, their session, and their JSON endpoints as a
(method, path) → handler table the proxy merges into its public routes (every path is
exact: none is looked at on a chat request, which finds its own route first).

* ``GET /ui/login``, ``POST /ui/login`` (the master key, as a form field) → a session
  cookie (``session.py``); ``POST /ui/logout`` clears it. LiteLLM's ``POST /login``
  (``username`` admin, ``password`` the master key) does the same.
* ``GET /ui`` → the page shell (the ES modules in ``static/`` draw each page).
* ``/ui/api/<management path>``: every management endpoint (``/key/generate``,
  ``/team/list``...) for the logged-in browser, answered by the same handler as the
  master key's call, plus the UI's own views (``data.py``). A change (any method but
  GET) needs the session's CSRF token in ``x-csrf-token``; without it: 403.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from tokenway.errors import AuthenticationError, PermissionDeniedError
from tokenway.http.server import Request, Response
from tokenway.proxy.admin.responses import Call, Handler
from tokenway.proxy.ui.assets import Template, asset_responses, static_files
from tokenway.proxy.ui.http import NO_STORE, SECURITY_HEADERS, html_response, json_error, redirect
from tokenway.proxy.ui.landing import Landing
from tokenway.proxy.ui.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_SECONDS,
    Session,
    Sessions,
    cookie_value,
    set_cookie,
)

UIRoute = Callable[[Request], Awaitable[Response]]

FAILED_LOGIN_DELAY = 1.0  # seconds before a wrong key is answered
MAX_FAILED_LOGINS = 20  # per client address, minute and process; then refused at once
_TRACKED_CLIENTS = 4096  # addresses whose failures are remembered; the oldest goes first
_LOGIN_MESSAGES = {
    "": "",
    "expired": "Your session has expired. Log in again.",
    "out": "You are logged out.",
    "wrong": "That is not this proxy's master key.",
    "busy": "Too many failed attempts: wait a minute, then try again.",
    "nokey": "This proxy has no master key, so the admin UI is off. "
    "Set general_settings.master_key and restart.",
}


@dataclass(frozen=True, slots=True)
class _UICall:
    """A logged-in session calls the management handlers as the master key does."""

    request_id: str
    key: None = None


class AdminUI:
    """``views``: the UI's own JSON endpoints (``data.UIData.routes()``), by method and
    path under ``/ui/api``; ``admin``: the management table, served under ``/ui/api``;
    ``aliases`` and ``status`` (the readiness word): what the landing page shows."""

    def __init__(
        self,
        master_key: str | None,
        admin: Mapping[tuple[str, str], Handler],
        views: Mapping[tuple[str, str], Handler],
        *,
        aliases: Sequence[str],
        status: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = Sessions(master_key, clock) if master_key else None
        self._clock = clock
        files = static_files()
        self._assets = asset_responses(files)
        self._landing = Landing(
            Template(files["landing.html"]), Template(files["docs.html"]), aliases, status
        )
        self._shell = Template(files["shell.html"])
        self._login = Template(files["login.html"])
        self._api = {
            (method, "/ui/api" + path): handler
            for (method, path), handler in {**admin, **views}.items()
        }
        self._failures: dict[str, deque[float]] = {}  # client address → failure times

    def routes(self) -> dict[tuple[str, str], UIRoute]:
        table: dict[tuple[str, str], UIRoute] = {
            ("GET", "/"): self._landing.home,
            ("GET", "/docs"): self._landing.docs,
            ("GET", "/ui"): self.shell,
            ("GET", "/ui/"): self.shell,
            ("GET", "/ui/login"): self.login_page,
            ("POST", "/ui/login"): self.login,
            ("POST", "/login"): self.litellm_login,
            ("POST", "/ui/logout"): self.logout,
        }
        for path, response in self._assets.items():
            table[("GET", path)] = _constant(response)
        for (method, path), handler in self._api.items():
            table[(method, path)] = self._guarded(handler, change=method != "GET")
        return table

    async def shell(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return redirect("/ui/login?m=expired" if cookie_value(request.headers) else "/ui/login")
        return html_response(self._shell.render(csrf=session.csrf))

    async def login_page(self, request: Request) -> Response:
        chosen = dict(parse_qsl(request.query)).get("m", "")
        if self._sessions is None:
            chosen = "nokey"
        return self._login_form(_LOGIN_MESSAGES.get(chosen, ""))

    async def litellm_login(self, request: Request) -> Response:
        """LiteLLM's ``POST /login`` form: ``username`` "admin" (LiteLLM's default UI
        user; tokenway has no other) and the master key as ``password``."""
        form = _form(request)
        offered = form.get("password", "") if form.get("username") == "admin" else ""
        return await self._log_in(request, offered)

    async def login(self, request: Request) -> Response:
        return await self._log_in(request, _form(request).get("master_key", ""))

    async def _log_in(self, request: Request, offered: str) -> Response:
        if self._sessions is None:
            return self._login_form(_LOGIN_MESSAGES["nokey"], 403)
        failures = self._failures_of(request)
        if len(failures) >= MAX_FAILED_LOGINS:
            return self._login_form(_LOGIN_MESSAGES["busy"], 429)
        if not self._sessions.master_key_matches(offered):
            failures.append(self._clock())
            await asyncio.sleep(FAILED_LOGIN_DELAY)  # a guess costs a second
            return self._login_form(_LOGIN_MESSAGES["wrong"], 401)
        token, _ = self._sessions.issue()
        cookie = set_cookie(token, max_age=SESSION_SECONDS, secure=_over_tls(request))
        return redirect("/ui", [cookie])

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return redirect("/ui/login?m=expired")
        offered = _form(request).get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if self._sessions is None or not self._sessions.csrf_ok(session, offered):
            return json_error(_csrf_refused())
        cookie = set_cookie("", max_age=0, secure=_over_tls(request))
        return redirect("/ui/login?m=out", [cookie])

    def _guarded(self, handler: Handler, *, change: bool) -> UIRoute:
        async def route(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return json_error(_SESSION_EXPIRED)
            if change:
                offered = request.headers.get(CSRF_HEADER)
                if self._sessions is None or not self._sessions.csrf_ok(session, offered):
                    return json_error(_csrf_refused())
            response = await handler(request, _call())
            response.headers.extend([NO_STORE, *SECURITY_HEADERS])
            return response

        return route

    def _failures_of(self, request: Request) -> deque[float]:
        """The client's failed logins of the last minute (by address: one guesser cannot
        lock everyone out, short of sharing their address)."""
        address = request.client[0] if request.client else ""
        failures = self._failures.pop(address, None) or deque()
        self._failures[address] = failures  # now the most recent entry
        if len(self._failures) > _TRACKED_CLIENTS:
            del self._failures[next(iter(self._failures))]
        now = self._clock()
        while failures and failures[0] < now - 60:
            failures.popleft()
        return failures

    def _session(self, request: Request) -> Session | None:
        if self._sessions is None:
            return None
        return self._sessions.verify(cookie_value(request.headers))

    def _login_form(self, message: str, status: int = 200) -> Response:
        return html_response(self._login.render(message=message), status)


def _call() -> Call:
    return _UICall("ui-" + secrets.token_hex(8))


def _constant(response: Response) -> UIRoute:
    async def route(request: Request) -> Response:
        return Response(response.status, list(response.headers), response.body)

    return route


def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the login and logout forms)."""
    if len(request.body) > 4096:
        return {}
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


def _over_tls(request: Request) -> bool:
    """Served over TLS: tokenway speaks plain HTTP, so TLS means a terminating proxy that
    says so; the cookie is then marked ``Secure``."""
    return request.headers.get("x-forwarded-proto", "").lower() == "https"


_SESSION_EXPIRED = AuthenticationError(
    "not logged in, or the session has expired: log in again at /ui/login",
    code="session_expired",
)


def _csrf_refused() -> PermissionDeniedError:
    return PermissionDeniedError(
        "this change needs the page's CSRF token (the x-csrf-token header): reload the page "
        "and try again",
        code="csrf_token_invalid",
    )
