"""The commented examples in earshot.example.yaml (auth, web, team SLAs, replies) are valid as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from earshot.checks import check
from earshot.settings import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "earshot.example.yaml"
KEYS = ("sla", "auto_assign", "base_url", "allowed_hosts", "auth", "replies")
ENV = {
    "SESSION_SECRET": "s" * 40,
    **dict.fromkeys(
        [
            "X_REPLY_TOKEN",
            "REDDIT_CLIENT_ID",
            "REDDIT_CLIENT_SECRET",
            "REDDIT_USERNAME",
            "REDDIT_PASSWORD",
            "BLUESKY_IDENTIFIER",
            "BLUESKY_APP_PASSWORD",
            "MASTODON_REPLY_TOKEN",
        ],
        "from-the-environment",
    ),
}


def uncommented(text: str) -> tuple[str, list[str]]:
    """The example with each commented ``KEYS`` block turned on, and the keys found."""
    lines, out, found, i = text.split("\n"), [], [], 0
    header = re.compile(rf"^(\s*)# ({'|'.join(KEYS)}):")
    while i < len(lines):
        match = header.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        found.append(match.group(2))
        out.append(indent + lines[i][len(indent) + 2 :])
        i += 1
        # The block goes on while its lines are commented one level deeper.
        while i < len(lines) and lines[i].startswith(indent + "#   "):
            out.append(indent + lines[i][len(indent) + 2 :])
            i += 1
    return "\n".join(out), found


def _load(tmp_path: Path, env: dict[str, str]) -> Settings:
    text, found = uncommented(EXAMPLE.read_text(encoding="utf-8"))
    assert sorted(found) == sorted(KEYS)
    path = tmp_path / "earshot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env)


def test_the_commented_examples_load_and_pass_the_config_check(tmp_path: Path) -> None:
    settings = _load(tmp_path, ENV)
    assert check(settings) == []
    assert settings.auth.session_secret is not None
    assert settings.auth.session_secret.get_secret_value() == "s" * 40
    assert (settings.auth.session_hours, settings.auth.login_max_failures) == (12, 5)
    assert settings.web.base_url == "https://earshot.example.com"
    assert settings.web.hosts() == ["earshot.example.com"]
    support = next(team for team in settings.teams if team.name == "support")
    assert support.sla is not None and support.auto_assign is not None
    assert (support.sla.first_response, support.sla.resolution) == (1800, 8 * 3600)
    assert support.auto_assign.max_open_per_person == 10
    # Reply accounts are keyed by the names of configured sources, so replies find them.
    sources = {source.name for source in settings.sources}
    assert set(settings.replies.accounts) == {"x", "reddit", "bsky", "fedi"} <= sources
    assert settings.replies.approval_required("support") and not settings.replies.approval_required("ops")
    assert [t.name for t in settings.replies.templates_for("support", "twitter")] == ["sorry"]


def test_the_example_as_shipped_turns_none_of_them_on() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.auth.session_secret is None and not settings.replies.accounts
    assert settings.web.base_url is None and all(t.sla is None for t in settings.teams)


@pytest.mark.parametrize("secret", ["", "short-secret"])
def test_a_short_session_secret_is_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match=r"auth\.session_secret"):
        _load(tmp_path, {**ENV, "SESSION_SECRET": secret})
