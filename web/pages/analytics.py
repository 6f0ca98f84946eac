"""Saved searches: the signed-in user keeps named views of the inbox or the overview.

Pages: ``GET /searches`` lists them; forms post to ``/searches`` and ``/searches/{id}/delete``.
API: ``GET``/``POST /api/searches`` and ``DELETE /api/searches/{id}``. Each user sees and deletes
only their own.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from storage.saved_searches import SavedSearch, delete_search, list_searches, save_search
from web.auth import CurrentUser, User
from web.context import Context, WebContext
from web.inputs import INT64_MAX, NAME_CHARS
from web.pages.common import render

router = APIRouter()

QUERY_CHARS = 2000
Page = Literal["mentions", "overview"]
SearchId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a saved search id")]


class SavedSearchIn(BaseModel):
    """A search to keep: its name, the page it belongs to and that page's query string."""

    name: str = Field(min_length=1, max_length=NAME_CHARS)
    page: Page = "mentions"
    query: str = Field(default="", max_length=QUERY_CHARS)


class SavedSearchOut(SavedSearchIn):
    """A saved search and the URL that reopens it."""

    id: int
    url: str


def clean_query(query: str) -> str:
    """The query string re-encoded from its parsed pairs: no fragment, nothing that is not a pair."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode([(k, v) for k, v in pairs if k not in {"offset", "name"}])


def _out(search: SavedSearch) -> SavedSearchOut:
    return SavedSearchOut(
        id=search.id, name=search.name, page=search.page, query=search.query, url=search.url
    )


def saved_for(request: Request, session: Session) -> list[SavedSearch]:
    """The signed-in user's saved searches; none for an anonymous request."""
    user = getattr(request.state, "user", None)
    return list_searches(session, user_id=user.id) if isinstance(user, User) else []


def _save(ctx: WebContext, user: User, item: SavedSearchIn) -> SavedSearch:
    name, query = item.name.strip(), clean_query(item.query)
    for attempt in range(2):
        try:
            with ctx.session_factory.begin() as session:
                return save_search(
                    session, user_id=user.id, name=name, page=item.page, query=query, now=ctx.now()
                )
        except IntegrityError:
            # Two saves of one new name at once: the other won; saving again replaces it.
            if attempt:
                raise
    raise AssertionError("unreachable")


@router.get("/api/searches", response_model=list[SavedSearchOut], tags=["searches"])
def api_list(ctx: Context, user: CurrentUser) -> list[SavedSearchOut]:
    """The signed-in user's saved searches, by name."""
    with ctx.session_factory() as session:
        return [_out(s) for s in list_searches(session, user_id=user.id)]


@router.post("/api/searches", response_model=SavedSearchOut, status_code=201, tags=["searches"])
def api_save(ctx: Context, user: CurrentUser, item: SavedSearchIn) -> SavedSearchOut:
    """Save a named search; an existing name of this user's is replaced."""
    if not item.name.strip():
        raise HTTPException(422, "name must not be blank")
    return _out(_save(ctx, user, item))


@router.delete(
    "/api/searches/{search_id}",
    status_code=204,
    tags=["searches"],
    responses={404: {"description": "not yours"}},
)
def api_delete(ctx: Context, user: CurrentUser, search_id: SearchId) -> Response:
    """Delete one of the signed-in user's saved searches."""
    with ctx.session_factory.begin() as session:
        if not delete_search(session, user_id=user.id, search_id=search_id):
            raise HTTPException(404, f"saved search #{search_id} does not exist")
    return Response(status_code=204)


@router.get("/searches", response_class=HTMLResponse, include_in_schema=False)
def searches_page(request: Request, ctx: Context, user: CurrentUser) -> Response:
    """The signed-in user's saved searches, with links and delete buttons."""
    with ctx.session_factory() as session:
        saved = list_searches(session, user_id=user.id)
    return render(request, ctx, "analytics_searches.html", {"saved": saved, "active": "searches"})


@router.post("/searches", include_in_schema=False)
def save_form(
    ctx: Context,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=NAME_CHARS)],
    page: Annotated[Page, Form()] = "mentions",
    query: Annotated[str, Form(max_length=QUERY_CHARS)] = "",
) -> Response:
    """Save the view a page's form describes, then open it."""
    if not name.strip():
        raise HTTPException(422, "name must not be blank")
    saved = _save(ctx, user, SavedSearchIn(name=name, page=page, query=query))
    return RedirectResponse(saved.url, status_code=303)


@router.post("/searches/{search_id}/delete", include_in_schema=False)
def delete_form(ctx: Context, user: CurrentUser, search_id: SearchId) -> Response:
    """Delete a saved search from its page's button, then list what is left."""
    with ctx.session_factory.begin() as session:
        delete_search(session, user_id=user.id, search_id=search_id)
    return RedirectResponse("/searches", status_code=303)
