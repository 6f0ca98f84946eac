"""Validation that needs the plugin registries: source, channel and classifier kinds and options."""

from __future__ import annotations

from pydantic import ValidationError

from alerting.channels.registry import channels as channel_registry
from alerting.config import check_routes
from classifiers.registry import classifiers as classifier_registry
from collectors.registry import collectors as collector_registry
from domain.plugins import UnknownKind
from earshot.settings import Settings, format_validation_error


def check(settings: Settings) -> list[str]:
    """Every problem in the settings as 'key.path: message' lines (empty when all is well)."""
    errors: list[str] = []
    errors += _check_brands(settings)
    errors += _check_named(
        "sources", [(s.name, s.kind, s.options) for s in settings.sources], collector_registry, "source"
    )
    errors += _check_named(
        "channels", [(c.name, c.kind, c.options) for c in settings.channels], channel_registry, "channel"
    )
    try:
        classifier_registry.get(settings.classifier.kind)
    except UnknownKind as exc:
        errors.append(f"classifier.kind: {exc}")
    except ImportError as exc:
        errors.append(f"classifier.kind: {settings.classifier.kind!r} cannot be loaded: {exc}")
    errors += check_routes(settings.routes, settings.teams, settings.channels, settings.alerting)
    errors += settings.reports.problems(
        teams=[t.name for t in settings.teams], channel_kinds={c.name: c.kind for c in settings.channels}
    )
    return errors


def _check_brands(settings: Settings) -> list[str]:
    errors = []
    names = [b.name for b in settings.brands]
    if not names:
        errors.append("brands: declare at least one brand with its queries")
    for i, brand in enumerate(settings.brands):
        if names.count(brand.name) > 1:
            errors.append(f"brands[{i}].name: duplicate brand {brand.name!r}")
        for j, competitor in enumerate(brand.competitors):
            if competitor not in names:
                errors.append(f"brands[{i}].competitors[{j}]: {competitor!r} is not a declared brand")
        for j, query in enumerate(brand.queries):
            problem = query_problem(query)
            if problem:
                errors.append(f"brands[{i}].queries[{j}]: {problem}")
    return errors


def query_problem(query: str) -> str | None:
    """Why a brand query cannot be parsed, with the position, or None when it is fine."""
    try:
        from collectors.query import QuerySyntaxError, validate_query
    except ImportError:
        return None if query.strip() else "empty query"
    try:
        validate_query(query)
    except QuerySyntaxError as exc:
        return f"{exc} at position {exc.position}"
    return None


def _check_named(
    section: str,
    items: list[tuple[str, str, dict[str, object]]],
    registry: object,
    what: str,
) -> list[str]:
    errors = []
    seen: set[str] = set()
    for i, (name, kind, options) in enumerate(items):
        if name in seen:
            errors.append(f"{section}[{i}].name: duplicate {what} name {name!r}")
        seen.add(name)
        try:
            cls = registry.get(kind)  # type: ignore[attr-defined]
        except UnknownKind as exc:
            errors.append(f"{section}[{i}].kind: {exc}")
            continue
        except ImportError as exc:
            errors.append(f"{section}[{i}].kind: {what} kind {kind!r} cannot be loaded: {exc}")
            continue
        try:
            cls.options_model(**options)
        except ValidationError as exc:
            errors += [f"{section}[{i}].options.{line}" for line in format_validation_error(exc)]
    return errors
