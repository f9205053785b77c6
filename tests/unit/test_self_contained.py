"""The product never refers to the folder CI keeps beside the clone.

Verifies:
- no file of the repository (tracked, or new and not ignored) other than `.ci/run` names that
  sibling folder, by relative or absolute path: a user's clone and GitHub's runners do not have
  it, so code, tests, comments and docs must stand without it (upstream artefacts resolve from
  $PLATE_UPSTREAM_DIR or the fetched cache; facts the code relies on are in docs/facts.md);
- in `.ci/run`, every mention is CI glue that only fills PLATE_UPSTREAM_DIR;
- every reference to a section of docs/facts.md (`docs/facts.md#<anchor>`, or the file's name, a
  comma and the heading in double quotes), and every link inside it, names a section it has.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# spelled in pieces so that this file does not name what it looks for
FORBIDDEN = ("../" + "shared", "/work/" + "shared")
CI_GLUE = ".ci/run"
FACTS = "docs/facts.md"


def repository_files() -> list[str]:
    """Tracked files, plus new ones not yet added (but not ignored), that exist on disk."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")
    return sorted({name for name in listed if name and (ROOT / name).is_file()})


def mentions(relpath: str) -> list[str]:
    """`relpath:line: text` for every line of the file that names the sibling folder."""
    text = (ROOT / relpath).read_bytes().decode("utf-8", errors="replace")
    return [
        f"{relpath}:{n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if any(word in line for word in FORBIDDEN)
    ]


def test_no_file_but_the_ci_script_names_the_sibling_folder():
    files = repository_files()
    assert "upstream.lock.yaml" in files and CI_GLUE in files  # the listing works
    found = [hit for name in files if name != CI_GLUE for hit in mentions(name)]
    assert found == [], "\n".join(found)


def test_the_ci_script_names_it_only_to_fill_plate_upstream_dir():
    found = mentions(CI_GLUE)
    assert found, f"{CI_GLUE} no longer fills PLATE_UPSTREAM_DIR from the sibling folder"
    assert [hit for hit in found if "PLATE_UPSTREAM_DIR" not in hit] == [], found
    assert [hit for hit in found if FORBIDDEN[1] in hit] == [], found


def anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_references_to_the_facts_name_sections_it_has():
    text = (ROOT / FACTS).read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("## ")]
    anchors = {anchor(h) for h in headings}
    assert "openbao-chart-extraargs" in anchors  # the slug rule, on a heading with punctuation
    wanted = [(FACTS, "#", target) for target in re.findall(r"\]\(#([^)]+)\)", text)]
    for name in repository_files():
        if not name.endswith((".py", ".md", ".yaml", ".yml", ".toml", ".sh")) and name != CI_GLUE:
            continue
        body = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        wanted += [(name, "#", m) for m in re.findall(r"docs/facts\.md#([\w-]+)", body)]
        wanted += [(name, ",", m) for m in re.findall(r'docs/facts\.md, "([^"]+)"', body)]
    assert len(wanted) >= 4, wanted  # render, evaluate, the chart tests, the OpenBao values
    unknown = [
        (name, target) for name, how, target in wanted
        if (target not in anchors if how == "#" else target not in headings)
    ]
    assert unknown == [], f"sections of {FACTS}: {headings}"
