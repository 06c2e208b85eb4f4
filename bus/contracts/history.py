"""Compare the working tree's contracts with earlier releases, without a registry.

``ecombus schemas check --against-git REF`` (and ``make test``) uses this: every event must be
FULL_TRANSITIVE compatible with the same event in every earlier release, because producers,
consumers and analysts' readers upgrade independently. With ``REF = auto`` the earlier releases
are every ``v*`` tag; without tags, every commit that changed ``schemas/`` (so a clean clone
checks the newest committed change against all before it, and a working tree its edits against
all that is committed); with neither there is nothing to compare and the check passes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bus.contracts.catalog import COMPATIBILITY
from bus.contracts.compatibility import incompatibilities
from bus.contracts.schemas import SCHEMAS_DIR, SchemaSet
from bus.errors import ConfigError

REPO_ROOT = SCHEMAS_DIR.parent


def _git(repo: Path, *args: str) -> str | None:
    """stdout of a git command, or None when it fails (unknown ref, not a repository)."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


def previous_releases(repo: Path = REPO_ROOT, limit: int = 100) -> tuple[list[str], str]:
    """The refs to be compatible with, newest first (at most ``limit``), and why those."""
    tags = (_git(repo, "tag", "--list", "v*", "--sort=-v:refname") or "").split()
    if tags:
        return tags[:limit], "every v* tag"
    prefix = SCHEMAS_DIR.relative_to(REPO_ROOT).as_posix()
    changes = (_git(repo, "log", "--format=%H", "-n", str(limit), "--", prefix) or "").split()
    return changes, "every commit that changed schemas/"


def schemas_at(ref: str, repo: Path = REPO_ROOT) -> SchemaSet | None:
    """The contracts as they were at ``ref``; None when ``ref`` had no ``schemas/`` yet.

    Raises:
        ConfigError: ``ref`` is not a commit of this repository.
    """
    if _git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}") is None:
        raise ConfigError(f"git ref {ref!r} is not a commit in {repo}")
    prefix = SCHEMAS_DIR.relative_to(REPO_ROOT).as_posix() + "/"
    names = (_git(repo, "ls-tree", "-r", "--name-only", ref, "--", prefix) or "").splitlines()
    files = {}
    for name in (n for n in names if n.endswith(".avsc")):
        text = _git(repo, "show", f"{ref}:{name}")
        if text is None:
            raise ConfigError(f"cannot read {name} at {ref}")
        files[name.removeprefix(prefix)] = text
    return SchemaSet.from_files(files) if files else None


@dataclass
class Comparison:
    """The outcome of comparing two schema sets, event by event.

    Attributes:
        problems: event → human-readable problems (each names the field); only failing events.
        compatible: events present on both sides with no problem.
        added: events that are new (nothing to be compatible with).
    """

    problems: dict[str, list[str]] = field(default_factory=dict)
    compatible: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def compare(current: SchemaSet, versions: list[tuple[str, SchemaSet]],
            level: str = COMPATIBILITY) -> Comparison:
    """Check every event of ``current`` against the same event in each of ``versions``
    (``(label, schemas)``, newest first) under ``level``.

    An event that the newest version had and ``current`` lacks is a problem too: its topics'
    readers would lose their contract.
    """
    result = Comparison()
    for event in current.events:
        short = event.rsplit(".", 1)[-1]
        earlier = [(label, schemas.expanded(event)) for label, schemas in versions if event in schemas.events]
        if not earlier:
            result.added.append(short)
            continue
        problems = incompatibilities(current.expanded(event), [schema for _, schema in earlier], level,
                                     labels=[label for label, _ in earlier])
        if problems:
            result.problems[short] = problems
        else:
            result.compatible.append(short)
    if versions:
        label, newest = versions[0]
        for event in sorted(set(newest.events) - set(current.events)):
            result.problems[event.rsplit(".", 1)[-1]] = [f"the event was removed (it exists in {label})"]
    return result
