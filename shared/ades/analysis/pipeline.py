"""Everything ADES learns from one mined commit, computed in one pass."""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Classification, Commit, Experience, PatternMatch
from .classify import classify_commit
from .experiences import build_experience
from .patterns import detect_patterns


@dataclass(slots=True)
class AnalysedCommit:
    """A commit with its category, the patterns its added lines use, and its experience."""

    commit: Commit
    classification: Classification
    patterns: list[PatternMatch]
    experience: Experience | None


def analyse_commit(commit: Commit) -> AnalysedCommit:
    """Classify `commit`, detect patterns in its analysable files and build its experience."""
    patterns: list[PatternMatch] = []
    for change in commit.files:
        if change.added_text:
            patterns.extend(detect_patterns(change.path, change.language, change.added_text))
    classification = classify_commit(commit)
    return AnalysedCommit(commit, classification, patterns,
                          build_experience(commit, classification, patterns))
