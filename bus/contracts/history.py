"""Compare the working tree's contracts with those of a previous release, without a registry.

``ecombus schemas check --against-git REF`` (and ``make test``) uses this: every event must be
FULL_TRANSITIVE compatible with the same event at the previous release, because producers,
consumers and analysts' readers upgrade independently. With ``REF = auto`` the previous release
is, in order: the newest ``v*`` tag, the merge-base with ``origin/main``, ``HEAD~1``; with none
of them there is nothing to compare and the check passes.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bus.contracts.catalog import COMPATIBILITY
from bus.contracts.schemas import SCHEMAS_DIR, SchemaSet
from bus.errors import ConfigError
from bus.registry.compatibility import incompatibilities

REPO_ROOT = SCHEMAS_DIR.parent


def _git(repo: Path, *args: str) -> str | None:
    """stdout of a git command, or None when it fails (unknown ref, not a repository)."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8") if done.returncode == 0 else None


def previous_release(repo: Path = REPO_ROOT) -> tuple[str, str] | None:
    """``(ref, why)`` of the previous release, or None when there is nothing to compare with."""
    tags = (_git(repo, "tag", "--list", "v*", "--sort=-v:refname") or "").split()
    if tags:
        return tags[0], "newest v* tag"
    if _git(repo, "rev-parse", "--verify", "-q", "origin/main^{commit}"):
        base = (_git(repo, "merge-base", "HEAD", "origin/main") or "").strip()
        if base:
            return base, "merge-base with origin/main"
    if _git(repo, "rev-parse", "--verify", "-q", "HEAD~1^{commit}"):
        return "HEAD~1", "previous commit"
    return None


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


def compare(current: SchemaSet, previous: SchemaSet, label: str = "the previous release",
            level: str = COMPATIBILITY) -> Comparison:
    """Check every event of ``current`` against the same event in ``previous`` under ``level``.

    An event that ``previous`` had and ``current`` lacks is a problem too: its topics' readers
    would lose their contract.
    """
    result = Comparison()
    for event in current.events:
        short = event.rsplit(".", 1)[-1]
        if event not in previous.events:
            result.added.append(short)
            continue
        problems = incompatibilities(current.expanded(event), [previous.expanded(event)], level,
                                     labels=[label])
        if problems:
            result.problems[short] = problems
        else:
            result.compatible.append(short)
    for event in sorted(set(previous.events) - set(current.events)):
        result.problems[event.rsplit(".", 1)[-1]] = [f"the event was removed (it exists in {label})"]
    return result
