"""Container image references: every image a stack names is pinned (a tag other than latest, or a digest)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


# A repository path segment as the OCI distribution spec allows it.
_REPO_RE = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def parse_image(ref: str) -> tuple[str, str | None, str | None]:
    """Split `registry/repo:tag@sha256:...` into (repository, tag, digest); raise ValueError."""
    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise ValueError("expected an image reference such as ghcr.io/acme/web:1.4.2")
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise ValueError(f"digest '{digest}' is not of the form sha256:<64 hex digits>")
    # The tag is after the last ':' of the last path segment (a registry may have a :port).
    head, _, last = name.rpartition("/")
    repo_last, _, tag = last.partition(":")
    repository = f"{head}/{repo_last}" if head else repo_last
    registry, _, path = repository.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        path = repository  # Docker Hub short name: no registry host in front
    if not _REPO_RE.match(path):
        raise ValueError(f"'{ref}' is not a valid image reference (lowercase repository expected)")
    if tag and not _TAG_RE.match(tag):
        raise ValueError(f"tag '{tag}' is not a valid image tag")
    return repository, tag or None, digest or None


def _pinned_image(ref: str) -> str:
    _, tag, digest = parse_image(ref)
    if tag == "latest" and not digest:
        raise ValueError(f"'{ref}' uses :latest; pin a version tag or a sha256 digest")
    if not tag and not digest:
        raise ValueError(f"'{ref}' has no tag; pin a version tag or a sha256 digest")
    return ref


PinnedImage = Annotated[str, AfterValidator(_pinned_image)]
