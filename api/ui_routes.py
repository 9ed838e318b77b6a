"""The web pages, each one self-contained HTML file served per object:

* the judges' page `GET /ui/contests/{id}` (`quality/contests/web/judges.html`);
* the member page `GET /ui/members/{id}` (`quality/members/web/member.html`): a stored member's four
  stages with their figures and evidence, the suggested tier and what the next one still needs.

A page reads everything else from the JSON API in the browser. Its only inline script and style carry a
fresh nonce per response; the Content-Security-Policy allows nothing else: no other origin, no inline
event handlers or style attributes, no `eval`.
"""

from __future__ import annotations

import html
import json
import secrets
from functools import lru_cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.contest_routes import ContestsDep, Id
from api.member_routes import MemberId, MembersDep
from api.openapi import DATABASE, IN_CONTEST, INVALID, MEMBER_NOT_FOUND
from quality.errors import NotFound
from quality.members.schemas import Timestamp
from quality.registry import DIMENSIONS
from quality.rubric.member_rules import TIERS

router = APIRouter(responses=DATABASE)

PAGE = ("web", "judges.html")  # under the `quality.contests` package (shipped as package data)
MEMBER_PAGE = ("web", "member.html")  # under the `quality.members` package (shipped as package data)


@lru_cache(maxsize=4)
def _template(package: str, *path: str) -> str:
    return files(package).joinpath(*path).read_text(encoding="utf-8")


def page_template() -> str:
    return _template("quality.contests", *PAGE)


def member_page_template() -> str:
    return _template("quality.members", *MEMBER_PAGE)


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


def page_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",  # a fresh nonce per response
    }


@router.get("/ui/contests/{contest_id}", response_class=HTMLResponse, responses=IN_CONTEST, tags=["judges' page"])
def judges_page(contest_id: Id, contests: ContestsDep) -> HTMLResponse:
    """The judges' web page of a contest: the suggested next pair, the ranking with its uncertainty,
    and buttons that record preferences and scores (`POST /contests/{id}/judgements`)."""
    contest = contests.get_contest(contest_id)  # NotFound: the contract's 404 body
    nonce = secrets.token_urlsafe(18)
    return HTMLResponse(render_page(contest.id, nonce), headers=page_headers(nonce))


def at_most_codes(tier_rules) -> list[str]:
    """Codes of the ladder's requirements that are upper bounds (lower is better, e.g. `civility`):
    the page draws those as a limit, not as progress towards a target."""
    return sorted({r.code for tier in TIERS if (rule := tier_rules.rule(tier)) is not None
                   for r in rule.requirements if r.at_most is not None})


def render_member_page(member_id: str, nonce: str, at_most: list[str], as_of: str = "") -> str:
    # The nonce first: the (escaped) member id is inserted last, so nothing in it is substituted again.
    return (member_page_template().replace("__NONCE__", nonce)
            .replace("__AT_MOST__", html.escape(json.dumps(at_most), quote=True))
            .replace("__AS_OF__", html.escape(as_of, quote=True))
            .replace("__MEMBER_ID__", html.escape(member_id, quote=True)))


@router.get("/ui/members/{member_id}", response_class=HTMLResponse, responses={**MEMBER_NOT_FOUND, **INVALID},
            tags=["member page"])
def member_page(member_id: MemberId, members: MembersDep,
                as_of: Annotated[Timestamp | None, Query(description="the profile's date (default: now); "
                                                                   "with its UTC offset")] = None) -> HTMLResponse:
    """The member page of a stored member: the four stages (participation, creation, interaction,
    initiative) with scores, figures and evidence, the suggested tier with its reasons, and the next
    tier's requirements. It reads `GET /members/{member_id}` (with `as_of` when given) in the browser;
    404 for a member with no stored activity."""
    if not members.store.count(member_id):  # the contract's 404 body, as `GET /members/{member_id}` gives
        raise NotFound(f"no activities are stored for member {member_id!r}", field="member_id")
    nonce = secrets.token_urlsafe(18)
    page = render_member_page(member_id, nonce, at_most_codes(members.rubric.tiers),
                              as_of.isoformat() if as_of is not None else "")
    return HTMLResponse(page, headers=page_headers(nonce))
