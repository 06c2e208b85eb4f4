"""``ecombus schemas ...``: the Avro contracts in ``schemas/`` and the schema registry."""

from __future__ import annotations

import json

import click

from bus.contracts import COMPATIBILITY, TOPIC_EVENTS, default_schema_set, schema_for_topic, subject_for
from bus.contracts.history import compare, previous_releases, schemas_at
from bus.serde import NotFoundError, RegistryClient, RegistryRequestError
from bus.settings import RegistrySettings, load


@click.group("schemas")
def schemas_group() -> None:
    """Show, register and check the event contracts (schemas/*.avsc)."""


_registry_option = click.option("--registry-url", default=None, help="Overrides SCHEMA_REGISTRY_URL.")


def _client(registry_url: str | None) -> RegistryClient:
    return RegistryClient.from_settings(load(RegistrySettings, url=registry_url))


@schemas_group.command("list")
def list_schemas() -> None:
    """Print each topic with its subject and event."""
    for topic, event in sorted(TOPIC_EVENTS.items()):
        click.echo(f"{topic:28} {subject_for(topic):34} {event}")


@schemas_group.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print the registered (expanded) schema of an event or topic, e.g. OrderPlaced."""
    schema = schema_for_topic(name) if name in TOPIC_EVENTS else default_schema_set().expanded(name)
    click.echo(json.dumps(schema, ensure_ascii=False, indent=2))


@schemas_group.command("register")
@_registry_option
def register(registry_url: str | None) -> None:
    """Register every topic's schema under <topic>-value, with FULL_TRANSITIVE set first.

    Idempotent: an unchanged schema keeps its id and version. Exit code 1 if any subject
    refused its schema (e.g. incompatible with what is registered).
    """
    failures = 0
    with _client(registry_url) as client:
        for topic, event in sorted(TOPIC_EVENTS.items()):
            subject, schema = subject_for(topic), schema_for_topic(topic)
            try:
                client.set_compatibility(subject, COMPATIBILITY)
                schema_id = client.register(subject, schema)
                found = client.lookup(subject, schema)
            except RegistryRequestError as exc:
                failures += 1
                click.secho(f"{subject:34} FAILED {exc}", fg="red")
                continue
            version = found.version if found else "?"
            click.echo(f"{subject:34} id={schema_id:<5} version={version!s:<4} {event} ({COMPATIBILITY})")
        click.echo(f"{len(TOPIC_EVENTS) - failures} subjects registered at {client.url}, {failures} failed")
    if failures:
        raise SystemExit(1)


@schemas_group.command("check")
@_registry_option
@click.option("--against-git", "ref", default=None, metavar="REF",
              help="Compare with the schemas at a git ref instead of the registry (no registry "
                   "needed); 'auto' = every v* tag, else every commit that changed schemas/.")
def check(registry_url: str | None, ref: str | None) -> None:
    """Check every schema is compatible with what is already out there.

    Against the registry: each subject's latest version, under the subject's own level. Against
    git: the same event at REF (or at every earlier release with 'auto'), under FULL_TRANSITIVE.
    Exit code 1 on any incompatibility; each problem names the field.
    """
    bad = _check_git(ref) if ref else _check_registry(registry_url)
    if bad:
        raise SystemExit(1)


def _check_registry(registry_url: str | None) -> int:
    bad = 0
    with _client(registry_url) as client:
        for topic, event in sorted(TOPIC_EVENTS.items()):
            subject = subject_for(topic)
            try:
                problems = client.check_compatibility(subject, schema_for_topic(topic))
            except NotFoundError:
                click.echo(f"{subject:34} new      {event} (not registered yet)")
                continue
            level = client.get_compatibility(subject) or "global default"
            bad += _report(subject, event, problems, level)
    return bad


def _check_git(ref: str) -> int:
    refs, why = previous_releases() if ref == "auto" else ([ref], "given")
    versions = []
    for each in refs:
        schemas = schemas_at(each)
        if schemas is not None:
            versions.append((each[:12] if len(each) == 40 else each, schemas))
    if not versions:
        click.echo(f"no earlier schemas/ ({why}: {len(refs)} found); nothing to compare")
        return 0
    shown = ", ".join(label for label, _ in versions[:5]) + (" ..." if len(versions) > 5 else "")
    click.echo(f"comparing schemas/ with {len(versions)} earlier version(s) ({why}: {shown}) "
               f"under {COMPATIBILITY}")
    result = compare(default_schema_set(), versions)
    for event in result.added:
        click.echo(f"{event:34} new")
    for event in result.compatible:
        _report(event, "", [], COMPATIBILITY)
    for event, problems in result.problems.items():
        _report(event, "", problems, COMPATIBILITY)
    return len(result.problems)


def _report(name: str, event: str, problems: list[str], level: str) -> int:
    """One line per subject or event, then one per problem; 1 if incompatible."""
    what = f"{event} " if event else ""
    if not problems:
        click.echo(f"{name:34} ok       {what}({level})")
        return 0
    click.secho(f"{name:34} INCOMPATIBLE {what}(under {level}):", fg="red")
    for problem in problems:
        click.secho(f"    - {problem}", fg="red")
    return 1


COMMANDS = [schemas_group]
