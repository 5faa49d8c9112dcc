"""Signing in and out: `GET /login` shows the form, `POST /login` with an API token starts
a session (session.py) and goes to the timeline, `POST /logout` ends it.

`worktrail serve --demo` prints a link to `/login#token=…`: the token travels in the
fragment, which the browser never sends to a server nor writes into a log, and the form's
script only fills it in; the person still presses the button, so no other site can sign
anyone in to an account of its choosing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ..errors import TooManyRequests, Unauthorized, WorktrailError
from ..web.services import services_of
from .session import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    clear_cookie,
    new_nonce,
    set_cookie,
)
from .timeline import ViewerDep
from .web import UiRoute, local_path, page, ui_state

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def signin_form(
    request: Request, next_path: str, error: str | None = None, status: int = 200
) -> Response:
    sessions = ui_state(request).sessions
    nonce = sessions.signin_nonce(request) or new_nonce()
    context = {
        "title": "Sign in",
        "csrf": sessions.csrf_token(nonce),
        "next": next_path,
        "error": error,
    }
    response = page("login.html", context, status=status)
    set_cookie(response, request, SIGNIN_COOKIE, nonce, SIGNIN_SECONDS)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return signin_form(request, local_path(request.query_params.get("next")))


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    sessions, services = ui_state(request).sessions, services_of(request)
    sessions.check_csrf(sessions.signin_nonce(request), csrf)
    target = local_path(next_path)
    token = token.strip()
    try:
        if not token:
            raise Unauthorized("enter an API token")
        services.authenticate(token)
    except TooManyRequests as exc:
        return signin_form(request, target, exc.detail, 429)
    except WorktrailError as exc:
        message = "that token is not valid" if exc.detail == "invalid API token" else exc.detail
        return signin_form(request, target, message[:1].upper() + message[1:], 401)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, sessions.issue(token), SESSION_SECONDS)
    clear_cookie(response, request, SIGNIN_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request, viewer: ViewerDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    viewer.ui.sessions.check_csrf(viewer.session.nonce, csrf)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response
