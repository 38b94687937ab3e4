"""Plain data records that flow from the git miner through analysis into storage."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Hunk:
    """One hunk of a file diff: its line ranges and the enclosing function git reports."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    function: str = ""


@dataclass(slots=True)
class FileChange:
    """One file touched by a commit, diffed against the first parent with renames off.

    `change_type` is A (added), M (modified), D (deleted) or R (a delete+add pair the
    miner recognised as a rename; `old_path` then holds the source). `added`/`deleted`
    equal `git log --numstat` for text files and are 0 for binary files.
    `added_text` holds the added lines joined by newlines (without the leading '+'),
    kept only while the change is analysed and never stored; it is empty when
    `skip_reason` says the file is excluded from content analysis.
    """

    path: str
    change_type: str = "M"
    old_path: str | None = None
    added: int = 0
    deleted: int = 0
    is_binary: bool = False
    language: str = ""
    skip_reason: str = ""
    hunks: list[Hunk] = field(default_factory=list)
    added_text: str = ""
    removed_text: str = ""


@dataclass(slots=True)
class Commit:
    """A commit as mined from `git log`, before analysis."""

    hash: str
    parents: list[str]
    author_name: str
    author_email: str
    author_time: int
    committer_name: str
    committer_email: str
    commit_time: int
    message: str
    files: list[FileChange] = field(default_factory=list)

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0].strip()

    @property
    def body(self) -> str:
        """The message after the subject line, stripped."""
        parts = self.message.split("\n", 1)
        return parts[1].strip() if len(parts) > 1 else ""

    @property
    def is_merge(self) -> bool:
        """True when the commit has more than one parent."""
        return len(self.parents) > 1


@dataclass(slots=True)
class Classification:
    """The category a commit belongs to and how sure the classifier is (0..1)."""

    category: str
    confidence: float
    signals: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PatternMatch:
    """One occurrence of a named code pattern in a file's added lines."""

    pattern: str
    path: str
    line: int
    snippet: str


@dataclass(slots=True)
class Experience:
    """The reusable lesson drawn from one meaningful commit."""

    title: str
    problem: str
    solution: str
    category: str
    languages: list[str]
    tags: list[str]
    patterns: list[str]
    size: int
    links: dict[str, list[str]] = field(default_factory=dict)
