"""Settings: YAML + environment, ${VAR} secrets, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from earshot.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "earshot.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "earshot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert [b.name for b in settings.brands] == ["Lumora", "Vantix", "Orbly"]
    assert settings.sources[0].kind == "demo"
    assert settings.routes[-1].default
    assert settings.database.url == "sqlite:///./earshot.db"


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "database:\n  url: sqlite:///a.db\n")
    settings = load_settings(
        path, env={"EARSHOT_DATABASE__URL": "postgresql://db/earshot", "EARSHOT_LOG_LEVEL": "DEBUG"}
    )
    assert settings.database.url == "postgresql://db/earshot"
    assert settings.log_level == "DEBUG"


def test_secrets_are_interpolated_from_the_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "channels:\n  - name: hook\n    kind: webhook\n"
        "    options: {url: '${HOOK_URL}', secret: '${HOOK_SECRET:-dev}'}\n",
    )
    settings = load_settings(path, env={"HOOK_URL": "https://hooks.example/abc"})
    assert settings.channels[0].options == {"url": "https://hooks.example/abc", "secret": "dev"}


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "routes:\n  - {name: a, team: t}\n  - {name: b, team: t}\n"
            "  - {name: c, team: t, match: {urgency: hgih}}\n",
            "routes[2].match.urgency: 'hgih' is not one of low, medium, high, critical",
        ),
        ("brands:\n  - name: X\n    quries: [x]\n", "brands[0].quries: unknown key"),
        ("brands:\n  - name: X\n", "brands[0].queries: required key is missing"),
        (
            "sources:\n  - {name: s, kind: demo, interval_seconds: 0}\n",
            "sources[0].interval_seconds: Input should be greater than or equal to 1",
        ),
        ("pipeline: [1, 2]\n", "pipeline: Input should be a valid dictionary"),
        (
            "channels:\n  - {name: c, kind: slack, options: {url: '${SLACK_URL}'}}\n",
            "channels[0].options.url: environment variable SLACK_URL is not set",
        ),
        ("brands: [\n", "line 2, column 1: invalid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_file_key_path_and_problem(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = _write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert any(line.startswith(f"{path}: ") and expected in line for line in info.value.lines), (
        info.value.lines
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", env={})
