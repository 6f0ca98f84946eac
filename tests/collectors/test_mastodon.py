"""The mastodon collector: Mastodon.py against fake instances serving captured statuses."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.errors import BadConfiguration, BadPayload, RateLimited, TemporarilyUnavailable
from collectors.mastodon import MastodonCollector, MastodonOptions
from tests.collectors.conftest import NOW, load_fixture, make_context

TAGGED = load_fixture("mastodon", "timeline_tag_acmefail.json")
SEARCHED = load_fixture("mastodon", "search_statuses.json")
TOKEN = "mastodon-test-token"
NO_SEARCH_SCOPE = "token-with-read-statuses-only"
CONTRACT = json.loads((Path(__file__).parent / "contracts" / "mastodon_entities.json").read_text("utf-8"))
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def entity_problems(entity: str, value: Any) -> list[str]:
    """What in ``value`` breaks the documented Mastodon entity."""
    entities = {k: v for k, v in CONTRACT.items() if k[0].isupper()}
    schema = {"$ref": f"#/$defs/{entity}", "$defs": entities}
    validator = jsonschema.Draft202012Validator(schema, format_checker=CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]


def request_problems(endpoint: str, args: dict[str, Any]) -> list[str]:
    """What in one request breaks the documented parameters of ``endpoint``."""
    documented = CONTRACT["requests"][endpoint]
    problems = [f"{endpoint}: undocumented parameter {k!r}" for k in args if k not in documented["params"]]
    if not 1 <= int(args.get("limit", 20)) <= documented["max_limit"]:
        problems.append(f"{endpoint}: limit {args['limit']} over {documented['max_limit']}")
    for key in ("max_id", "min_id", "since_id"):
        if key in args and not str(args[key]).isdigit():
            problems.append(f"{endpoint}: {key} {args[key]!r} is not a status id")
    if endpoint == "search" and (args.get("type") not in documented["type"] or not args.get("q")):
        problems.append(f"search: type {args.get('type')!r} / q {args.get('q')!r}")
    return problems


ROUTES = re.compile(r"^/(?P<instance>\w+)/api/(?:v1/timelines/tag/(?P<tag>\w+)|v2/search)$")


class FakeInstance:
    """Tag timelines and status search over captured statuses, with Mastodon's min_id paging."""

    def __init__(self) -> None:
        self.tagged = list(TAGGED)
        self.searchable = list(SEARCHED["statuses"])
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.violations: list[str] = []
        self.tags_need_sign_in = False
        self.failing_tags: set[str] = set()

    def __call__(self, request: Request) -> Response:
        match = ROUTES.match(request.path)
        assert match is not None
        args = dict(request.args)
        self.requests.append((request.path.split("/api/", 1)[1], args))
        self.violations += request_problems("timelines/tag" if match["tag"] else "search", args)
        signed_in = request.headers.get("Authorization") in {f"Bearer {TOKEN}", f"Bearer {NO_SEARCH_SCOPE}"}
        if match["tag"]:
            if self.tags_need_sign_in and not signed_in:
                return Response(
                    json.dumps({"error": "This method requires an authenticated user"}), status=422
                )
            if match["tag"] in self.failing_tags:
                return Response(json.dumps({"error": "boom"}), status=500)
            pool = [s for s in self.tagged if match["tag"] in {t["name"] for t in s["tags"]}]
        else:
            if request.headers.get("Authorization") == f"Bearer {NO_SEARCH_SCOPE}":
                error = {"error": "This action is outside the authorized scopes"}
                return Response(json.dumps(error), status=403, content_type="application/json")
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return Response(json.dumps({"error": "The access token is invalid"}), status=401)
            words = args["q"].lower().split()
            pool = [
                s for s in self.searchable if all(w in s["content"].lower() for w in words if ":" not in w)
            ]
        pool = sorted(pool, key=lambda s: -int(s["id"]))
        limit = int(args.get("limit", 20))
        if "max_id" in args:
            pool = [s for s in pool if int(s["id"]) < int(args["max_id"])]
        if "min_id" in args and match["tag"]:  # the oldest statuses just after min_id, still newest first
            newer = [s for s in pool if int(s["id"]) > int(args["min_id"])]
            page = newer[-limit:]
        elif "min_id" in args:  # search: a time filter, results still the newest first
            page = [s for s in pool if int(s["id"]) > int(args["min_id"])][:limit]
        else:
            page = pool[:limit]
        body: Any = page if match["tag"] else {"accounts": [], "hashtags": [], "statuses": page}
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")


@pytest.fixture
def instance(httpserver: HTTPServer) -> Iterator[FakeInstance]:
    fake = FakeInstance()
    httpserver.expect_request(ROUTES).respond_with_handler(fake)
    yield fake
    assert fake.violations == [], "a request broke Mastodon's documented parameters"


def collector(
    server: HTTPServer, *queries: str, token: str | None = None, **options: Any
) -> MastodonCollector:
    instances = options.pop("instances", [{"url": server.url_for("/one"), "access_token": token}])
    return MastodonCollector(
        name="fedi",
        options=MastodonOptions(instances=instances, **options),
        context=make_context(*queries, timeout=1.0),
    )


CASES = [
    # (queries, token, options, expected status uris (suffixes), expected requests)
    (
        ["#acmefail"],
        None,
        {},
        ["kat/statuses/113955001234567890", "jonas/statuses/113954989999999999"],
        ["v1/timelines/tag/acmefail"],
    ),
    (["#acmefail lang:en"], None, {}, ["kat/statuses/113955001234567890"], ["v1/timelines/tag/acmefail"]),
    (
        ["acme"],
        None,
        {"hashtags": ["#AcmeFail"]},
        ["kat/statuses/113955001234567890"],
        ["v1/timelines/tag/acmefail"],
    ),
    (["acme"], TOKEN, {}, ["ana/statuses/113955099999999999"], ["v2/search"]),
    (["acme site:blog.example.dev"], TOKEN, {}, ["ana/statuses/113955099999999999"], ["v2/search"]),
    (["acme"], TOKEN, {"search": False}, [], []),
]


@pytest.mark.parametrize(("queries", "token", "options", "uris", "requests"), CASES)
def test_streams(
    httpserver: HTTPServer,
    instance: FakeInstance,
    queries: list[str],
    token: str | None,
    options: dict[str, Any],
    uris: list[str],
    requests: list[str],
) -> None:
    result = collector(httpserver, *queries, token=token, **options).fetch(None)
    assert [m.external_id.split("/users/", 1)[1] for m in result.mentions] == uris
    assert [path for path, _ in instance.requests] == requests
    assert result.problems == []
    json.dumps(result.cursor)


def test_search_parameters(httpserver: HTTPServer, instance: FakeInstance) -> None:
    collector(httpserver, "acme lang:en -jobs", token=TOKEN).fetch(None)
    ((_, args),) = instance.requests
    assert args["q"] == "acme -jobs language:en" and args["type"] == "statuses"


def test_normalised_fields(httpserver: HTTPServer, instance: FakeInstance) -> None:
    mentions = collector(httpserver, "#acmefail").fetch(None).mentions
    kat, jonas = mentions
    assert kat.author.handle == "kat@localhost" and kat.author.followers == 1893
    assert kat.text == "Acme Cloud ate my deploy again. #AcmeFail" and kat.title is None
    assert kat.url == "https://mastodon.social/@kat/113955001234567890" and kat.language == "en"
    assert (kat.engagement.likes, kat.engagement.shares, kat.engagement.replies) == (14, 5, 2)
    assert kat.published_at.isoformat() == "2025-03-06T11:55:02+00:00" and kat.collected_at == NOW
    assert (
        jonas.author.handle == "jonas@chaos.social" and jonas.title == "work rant" and jonas.language == "de"
    )
    assert "@acmesupport" in jonas.text
    assert kat.raw["account"]["acct"] == "kat" and kat.source_kind == "mastodon" and kat.brands == ("Acme",)


def test_second_run_pages_forward_from_since_id(httpserver: HTTPServer, instance: FakeInstance) -> None:
    fedi = collector(httpserver, "#acmefail", limit=1)
    first = fedi.fetch(None)
    assert len(first.mentions) == 1  # a first run reads only the newest page
    key = f"{httpserver.url_for('/one')} #acmefail"
    assert first.cursor == {"streams": {key: {"since_id": "113955001234567890"}}}
    newer = [
        dict(
            TAGGED[0], id=str(113955001234567890 + i), uri=f"https://mastodon.social/users/kat/statuses/n{i}"
        )
        for i in (1, 2, 3)
    ]
    instance.tagged += newer
    second = fedi.fetch(json.loads(json.dumps(first.cursor)))
    assert sorted(m.external_id[-2:] for m in second.mentions) == ["n1", "n2", "n3"]
    assert [a.get("min_id") for _, a in instance.requests[1:]] == [
        "113955001234567890",
        "113955001234567891",
        "113955001234567892",
        "113955001234567893",
    ]
    assert fedi.fetch(second.cursor).mentions == []


def test_one_instance_down_keeps_the_other(httpserver: HTTPServer, instance: FakeInstance) -> None:
    down = "http://127.0.0.1:9/down"
    instances = [{"url": down}, {"url": httpserver.url_for("/one")}]
    previous = {"streams": {f"{down} #acmefail": {"since_id": "5"}}}
    result = collector(httpserver, "#acmefail", instances=instances).fetch(previous)
    assert len(result.mentions) == 2 and result.failures[0].startswith(f"{down} #acmefail: {down}: ")
    assert result.cursor["streams"][f"{down} #acmefail"] == {"since_id": "5"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (
            429,
            '{"error": "Too many requests"}',
            {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "2025-03-06T12:05:00.000Z",
            },
            RateLimited,
        ),
        (503, "<html>down</html>", {}, TemporarilyUnavailable),
        (500, '{"error": "boom"}', {}, TemporarilyUnavailable),
        (404, '{"error": "Record not found"}', {}, BadConfiguration),
        (200, '[{"id": "1", ', {}, BadPayload),
        (200, '{"not": "a list"}', {}, BadPayload),
    ],
)
def test_errors(httpserver: HTTPServer, status: int, body: str, headers: dict[str, str], error: type) -> None:
    httpserver.expect_request(ROUTES).respond_with_data(
        body, status=status, headers=headers, content_type="application/json"
    )
    with pytest.raises(error) as caught:
        collector(httpserver, "#acmefail").fetch(None)
    if status == 429:
        assert caught.value.until.isoformat() == "2025-03-06T12:05:00+00:00"  # type: ignore[attr-defined]


def test_bad_token_is_configuration(httpserver: HTTPServer, instance: FakeInstance) -> None:
    with pytest.raises(BadConfiguration):
        collector(httpserver, "acme", token="wrong").fetch(None)


def test_timeout(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response("[]", content_type="application/json")

    httpserver.expect_request(ROUTES).respond_with_handler(slow)
    with pytest.raises(TemporarilyUnavailable, match="unreachable"):
        collector(httpserver, "#acmefail", timeout_seconds=0.2).fetch(None)


def test_unreadable_status_is_a_problem_not_a_failure(httpserver: HTTPServer, instance: FakeInstance) -> None:
    broken = {k: v for k, v in TAGGED[0].items() if k != "account"} | {
        "id": "113955001234567899",
        "uri": "x:1",
    }
    instance.tagged.append(broken)
    result = collector(httpserver, "#acmefail").fetch(None)
    assert (
        len(result.mentions) == 2
        and len(result.problems) == 1
        and "without uri/account" in result.problems[0]
    )


def _new_statuses(count: int) -> list[dict[str, Any]]:
    """``count`` searchable statuses newer than every captured one."""
    base = SEARCHED["statuses"][0]
    return [
        dict(base, id=str(113956000000000000 + i), uri=f"https://example.social/users/ana/statuses/s{i}")
        for i in range(1, count + 1)
    ]


def test_search_pages_down_to_the_cursor(httpserver: HTTPServer, instance: FakeInstance) -> None:
    fedi = collector(httpserver, "acme", token=TOKEN)
    first = fedi.fetch(None)
    key = f"{httpserver.url_for('/one')} search acme"
    assert first.cursor == {"streams": {key: {"since_id": "113955100000000000"}}}
    instance.searchable += _new_statuses(95)  # more than two pages of 40 between runs
    second = fedi.fetch(json.loads(json.dumps(first.cursor)))
    assert len(second.mentions) == 95 and second.problems == [] and second.failures == []
    paging = [(a.get("max_id"), a.get("min_id")) for _, a in instance.requests[1:]]
    assert paging == [(None, None), ("113956000000000056", None), ("113956000000000016", None)]
    assert second.cursor == {"streams": {key: {"since_id": "113956000000000095"}}}
    assert fedi.fetch(second.cursor).mentions == []


def test_search_beyond_max_pages_is_reported(httpserver: HTTPServer, instance: FakeInstance) -> None:
    fedi = collector(httpserver, "acme", token=TOKEN, max_pages=2)
    first = fedi.fetch(None)
    instance.searchable += _new_statuses(95)
    second = fedi.fetch(first.cursor)
    assert len(second.mentions) == 80 and "more than 2 pages" in second.problems[0]


def test_search_without_the_read_search_scope(httpserver: HTTPServer, instance: FakeInstance) -> None:
    with pytest.raises(BadConfiguration, match="read:search"):
        collector(httpserver, "acme", token=NO_SEARCH_SCOPE).fetch(None)


def test_hashtag_timeline_that_requires_sign_in(httpserver: HTTPServer, instance: FakeInstance) -> None:
    instance.tags_need_sign_in = True
    with pytest.raises(BadConfiguration, match="requires sign-in for hashtag timelines"):
        collector(httpserver, "#acmefail").fetch(None)


def test_one_failing_stream_keeps_the_others(httpserver: HTTPServer, instance: FakeInstance) -> None:
    instance.failing_tags.add("acmefail")
    key = f"{httpserver.url_for('/one')} #acmefail"
    previous = {"streams": {key: {"since_id": "7"}}}
    result = collector(httpserver, "#acmefail OR acme", token=TOKEN, hashtags=["outage"]).fetch(previous)
    assert [m.external_id.rsplit("/", 1)[1] for m in result.mentions] == ["113955099999999999"]
    (failure,) = result.failures
    assert failure.startswith(f"{key}: ") and TOKEN not in failure
    assert result.cursor["streams"][key] == {"since_id": "7"}  # type: ignore[index]
    assert f"{httpserver.url_for('/one')} #outage" in result.cursor["streams"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("Status", TAGGED[0]),
        ("Status", TAGGED[1]),
        ("Search", SEARCHED),
    ],
)
def test_fixtures_match_the_entity_docs(entity: str, value: Any) -> None:
    assert entity_problems(entity, value) == []
    drifted = copy.deepcopy(value)
    status = drifted["statuses"][0] if entity == "Search" else drifted
    del status["account"]["acct"]
    status["visibility"] = "everyone"
    assert len(entity_problems(entity, drifted)) == 2  # a fixture drifting from the docs fails
