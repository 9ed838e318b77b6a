"""The judges' page: one self-contained HTML file (`quality/contests/web/judges.html`), served per contest.

The page reads everything else from the JSON API in the browser. Its only inline script and style carry a
fresh nonce per response; the Content-Security-Policy allows nothing else: no other origin, no inline
event handlers or style attributes, no `eval`.
"""

from __future__ import annotations

import html
import json
import secrets
from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.contest_routes import ContestsDep, Id
from api.openapi import DATABASE, IN_CONTEST
from quality.registry import DIMENSIONS

router = APIRouter(tags=["judges' page"], responses=DATABASE)

PAGE = ("web", "judges.html")  # under the `quality.contests` package (shipped as package data)


@lru_cache(maxsize=1)
def page_template() -> str:
    return files("quality.contests").joinpath(*PAGE).read_text(encoding="utf-8")


def content_security_policy(nonce: str) -> str:
    return "; ".join((
        "default-src 'self'",
        f"script-src 'nonce-{nonce}'",
        f"style-src 'nonce-{nonce}'",  # the page sets bar widths through the CSSOM, which CSP allows
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))


def dimension_labels() -> str:
    """[name, Chinese label] of each scoring dimension (quality.registry), as JSON for the page."""
    rows = []
    for spec in DIMENSIONS.values():
        rows.append([spec.name, spec.label_zh])
        rows += [[f"{spec.name}.{field}", label, "part"] for field, label in spec.parts]  # shown indented
    return json.dumps(rows, ensure_ascii=False)


def render_page(contest_id: str, nonce: str) -> str:
    # The nonce first: the (escaped) contest id is inserted last, so nothing in it is substituted again.
    return (page_template().replace("__NONCE__", nonce)
            .replace("__DIMENSIONS__", html.escape(dimension_labels(), quote=True))
            .replace("__CONTEST_ID__", html.escape(contest_id, quote=True)))


@router.get("/ui/contests/{contest_id}", response_class=HTMLResponse, responses=IN_CONTEST)
def judges_page(contest_id: Id, contests: ContestsDep) -> HTMLResponse:
    """The judges' web page of a contest: the suggested next pair, the ranking with its uncertainty,
    and buttons that record preferences and scores (`POST /contests/{id}/judgements`)."""
    contest = contests.get_contest(contest_id)  # NotFound: the contract's 404 body
    nonce = secrets.token_urlsafe(18)
    return HTMLResponse(render_page(contest.id, nonce), headers={
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",  # a fresh nonce per response
    })
