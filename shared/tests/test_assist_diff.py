"""Parsing the unified diffs an IDE sends for review, and what the parser refuses."""

from __future__ import annotations

import pytest
from ades.assist import AssistError, parse_unified_diff
from ades.assist.context import fit_to_budget
from ades.assist.similar import query_from_text

GIT_DIFF = """diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -10,3 +10,3 @@ def handle(request):
     x = 1
+    y = "--- not a header"
-    z = 2
     w = 3
@@ -40 +41,2 @@ class Server:
+    pass
diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/a/name.py b/b/name.py
similarity index 90%
rename from a/name.py
rename to b/name.py
--- a/a/name.py
+++ b/b/name.py
@@ -1 +1 @@
-old
+new
"""


def test_a_git_diff_yields_each_file_with_its_status_hunks_and_added_lines():
    files = parse_unified_diff(GIT_DIFF)
    assert [(f.path, f.status, f.old_path) for f in files] == [
        ("src/app.py", "modified", None), ("new.txt", "added", None),
        ("old.txt", "deleted", None), ("b/name.py", "renamed", "a/name.py")]
    app = files[0]
    assert [(h["old_start"], h["old_lines"], h["new_start"], h["new_lines"], h["function"])
            for h in app.hunks] == [(10, 3, 10, 3, "def handle(request):"),
                                    (40, 1, 41, 2, "class Server:")]
    assert app.added == ['    y = "--- not a header"', "    pass"]


@pytest.mark.parametrize(("diff", "fragment"), [
    ("", "non-empty"),
    (42, "non-empty"),
    ("just some text\n", "no file changes"),
    ("--- a/x\n+++ b/x\n@@ nonsense @@\n", "malformed hunk"),
    ("--- a/x\n+++ /etc/passwd\n@@ -1 +1 @@\n+x\n", "repository-relative"),
])
def test_what_is_not_a_usable_diff_is_refused_with_a_reason(diff, fragment):
    with pytest.raises(AssistError, match=fragment):
        parse_unified_diff(diff)


def test_a_snippet_becomes_its_telling_words_without_keywords():
    words = query_from_text("def retryWithBackoff(self, http_client):\n    return self.retry()")
    assert words.split()[:2] == ["retry", "retrywithbackoff"]
    assert "def" not in words.split() and "self" not in words.split()
    assert "http_client" in words.split() and "backoff" in words.split()


def test_an_answer_over_budget_loses_its_least_important_items_first():
    answer = {"co_changes": [{"path": f"f{i}.py"} for i in range(3)],
              "experiences": [{"title": "t" * 400} for _ in range(5)],
              "patterns": [{"pattern": "p" * 400} for _ in range(5)]}
    fitted = fit_to_budget(answer, 300)
    assert fitted["patterns"] == [] and len(fitted["co_changes"]) == 3
    assert fitted["budget"]["truncated"] is True
    assert fitted["budget"]["estimated_tokens"] <= 300


def test_plain_diff_u_output_with_several_files_and_dashes_in_hunks_is_split_by_hunk_lengths():
    diff = ("--- a/one.sql\n+++ b/one.sql\n@@ -1,2 +1,2 @@\n--- a comment\n+-- the comment\n"
            " select 1;\n--- a/two.sql\n+++ b/two.sql\n@@ -1 +1,2 @@\n select 2;\n+select 3;\n"
            "\\ No newline at end of file\n")
    files = parse_unified_diff(diff)
    assert [f.path for f in files] == ["one.sql", "two.sql"]
    assert files[0].added == ["-- the comment"] and files[1].added == ["select 3;"]
