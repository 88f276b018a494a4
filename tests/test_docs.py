"""The specification lives in docs/: every `docs/<page>.md#<anchor>` reference in the repository
and every relative link between the pages resolves to an existing page and heading, and no
file points at specification documents outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("src", "tests", "configs", "benchmarks", "docs")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt"}
DOC_REFERENCE = re.compile(r"docs/([A-Za-z0-9_]+\.md)(?:#([A-Za-z0-9_-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")
# the specification files that used to live outside the repository (spelt in pieces, so this
# file does not match its own pattern)
OUTSIDE = re.compile("|".join(["shared" + "/docs", r"METHODS\.md", r"BENCHMARKS\.md", r"DESIGN\.md", "seeds" + "/"]))


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation other than - and _ dropped, spaces -> -."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code:
            continue
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            base = slug(match.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def files():
    yield ROOT / "README.md"
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES:
                yield path


def test_doc_references_resolve():
    broken = []
    for path in files():
        text = path.read_text(encoding="utf-8")
        targets = [(DOCS / page, anchor) for page, anchor in DOC_REFERENCE.findall(text)]
        if path.suffix == ".md":
            for link, anchor in MARKDOWN_LINK.findall(text):
                if re.match(r"[a-z]+:", link):
                    continue
                target = (path.parent / link) if link else path
                if target.suffix == ".md" or target == path:
                    targets.append((target, anchor))
        for page, anchor in targets:
            where = path.relative_to(ROOT)
            if not page.is_file():
                broken.append(f"{where}: {page.relative_to(ROOT)} does not exist")
            elif anchor and anchor not in anchors(page):
                broken.append(f"{where}: {page.relative_to(ROOT)} has no heading for #{anchor}")
    assert not broken, "\n".join(broken)


def test_no_specification_outside_the_repository():
    outside = [f"{path.relative_to(ROOT)}:{i}" for path in files()
               for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not outside, "references to specification files outside the repository: " + ", ".join(outside)
