"""The one settings object: earshot.yaml plus environment variables.

Precedence: EARSHOT_* environment variables (nested with ``__``, for example
``EARSHOT_DATABASE__URL``) override the YAML file, which overrides defaults.
String values in the YAML may say ``${NAME}`` to take a secret from the
environment. This module is the only place that reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alerting.config import AlertingConfig, ChannelConfig, RouteConfig, TeamConfig
from alerting.replies_config import RepliesConfig
from alerting.reports_config import ReportsConfig
from classifiers.config import ClassifierOptions
from scheduler.config import ScaleConfig
from web.config import AuthConfig, WebConfig

DEFAULT_CONFIG = Path("earshot.yaml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Configuration is invalid; ``lines`` are 'file: key.path: what is wrong'."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class BrandConfig(BaseModel):
    """A tracked brand: its search queries and the brands it competes with."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    queries: list[str] = Field(min_length=1)
    competitors: list[str] = Field(default_factory=list)
    # True: tracked for trends and share of voice, alerted on only where a route asks for it.
    # Unset: a competitor when another brand lists it under competitors.
    competitor: bool | None = None
    # The brand's own accounts per source name or kind ("*": any source), e.g. {twitter: ["@acme"]}.
    # Their posts are stored, marked as ours, never alerted on and left out of top authors.
    accounts: dict[str, list[str]] = Field(default_factory=dict)


class SourceConfig(BaseModel):
    """One configured source; ``options`` are validated by its collector kind's model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    enabled: bool = True
    interval_seconds: float = Field(300.0, ge=1.0)
    jitter_seconds: float = Field(5.0, ge=0.0)
    # Wall-clock budget of one run, every request (feeds, pages, redirects) included.
    timeout_seconds: float = Field(60.0, gt=0.0, le=3600.0)
    options: dict[str, Any] = Field(default_factory=dict)


class DatabaseConfig(BaseModel):
    """Where mentions and alerts are stored."""

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///./earshot.db"
    echo: bool = False


class PipelineConfig(BaseModel):
    """Pipeline batching and delivery cadence."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(200, ge=1, le=10_000)
    deliver_interval_seconds: float = Field(5.0, gt=0)
    # Near-duplicates are looked for among mentions collected this many hours back.
    cluster_window_hours: float = Field(72.0, gt=0)
    # At most this many recent mentions are kept for near-duplicate matching (memory stays bounded).
    neardup_max_entries: int = Field(20_000, ge=100)


class Settings(BaseSettings):
    """Everything Earshot needs to run, validated at start."""

    model_config = SettingsConfigDict(env_prefix="EARSHOT_", env_nested_delimiter="__", extra="forbid")

    log_level: str = "INFO"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    brands: list[BrandConfig] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    classifier: ClassifierOptions = Field(default_factory=ClassifierOptions)
    teams: list[TeamConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    replies: RepliesConfig = Field(default_factory=RepliesConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)

    def brand_roles(self) -> list[tuple[str, bool, dict[str, list[str]]]]:
        """(name, is_competitor, accounts) for every brand, competitors resolved as documented."""
        listed = {c for b in self.brands for c in b.competitors}
        return [
            (b.name, b.competitor if b.competitor is not None else b.name in listed, dict(b.accounts))
            for b in self.brands
        ]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the YAML data passed as init arguments."""
        return (env_settings, init_settings)


def config_path(explicit: Path | None = None) -> Path:
    """The config file to read: --config, else $EARSHOT_CONFIG, else ./earshot.yaml."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get("EARSHOT_CONFIG", str(DEFAULT_CONFIG)))


def environment() -> dict[str, str]:
    """A copy of the process environment, for the few places that pass it on."""
    return dict(os.environ)


def load_settings(path: Path | None = None, *, env: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError with one line per problem."""
    file = config_path(path)
    env = dict(os.environ) if env is None else env
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found (copy earshot.example.yaml, or pass --config)"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{file}: {where}invalid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{file}: the top level must be a mapping of settings"])
    missing: list[str] = []
    data = _interpolate(data, env, (), missing)
    if missing:
        raise ConfigError([f"{file}: {line}" for line in missing])
    try:
        return _with_env(env, data)
    except ValidationError as exc:
        raise ConfigError([f"{file}: {line}" for line in format_validation_error(exc)]) from None


def _with_env(env: dict[str, str], data: dict[str, Any]) -> Settings:
    # pydantic-settings reads os.environ itself; swap in the given mapping for the call.
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Settings(**data)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _interpolate(value: Any, env: dict[str, str], path: tuple[Any, ...], missing: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, env, (*path, k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, (*path, i), missing) for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append(f"{key_path(path)}: environment variable {name} is not set")
            return ""

        return _ENV_REF.sub(replace, value)
    return value


def key_path(loc: tuple[Any, ...]) -> str:
    """Render a location tuple as ``routes[2].match.urgency``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError) -> list[str]:
    """One 'key.path: message' line per pydantic error, in plain words."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{key_path(loc)}: {_message(error)}")
    return lines


def _message(error: Any) -> str:
    kind = error["type"]
    given = error.get("input")
    ctx = error.get("ctx") or {}
    if kind in {"enum", "literal_error"} and "expected" in ctx:
        choices = re.sub(r"'([^']*)'", r"\1", str(ctx["expected"])).replace(" or ", ", ")
        return f"{given!r} is not one of {choices}"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against earshot.example.yaml)"
    if kind == "missing":
        return "required key is missing"
    return str(error["msg"])
