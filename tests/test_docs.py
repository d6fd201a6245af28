"""Every code block in the docs and the README runs, every docstring example holds, and every
link and file reference resolves."""

import doctest
import importlib
import os
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import graph
import rop

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_code_blocks_run(path):
    code = "\n".join(python_blocks(path))
    if not code:
        pytest.skip("no python blocks")
    # one fresh interpreter per document: blocks build on each other, registries stay clean
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def _modules():
    for package in (graph, rop):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):  # importing it runs the command line
                yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS |
                                  doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


# -- links and file references --------------------------------------------------------------
# A markdown link [text](target) (an image too), outside code; the target a path, an #anchor,
# or both. Web addresses are not checked (the tests run offline).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", flags=re.M)
# a path ending in .md, and the sections cited right after it: "docs/math.md §7" or "§7, §9"
FILE_REFERENCE = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.md)\b((?:,?\s*§\s?\d+(?:\.\d+)*)*)")
CODE_DIRECTORIES = ("graph", "rop", "examples", "benchmarks", "tests")


def _prose(markdown):
    """The markdown without fenced code blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", markdown, flags=re.S))


def anchors(markdown) -> set:
    """The anchors of the headings, as GitHub makes them: lowercase, punctuation dropped,
    spaces turned into hyphens, a repeated one numbered -1, -2, ..."""
    found, counts = set(), {}
    for heading in HEADING.findall(re.sub(r"```.*?```", "", markdown, flags=re.S)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.replace("`", ""))
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{counts[slug]}" if slug in counts else slug)
        counts[slug] = counts.get(slug, 0) + 1
    return found


def sections(markdown) -> set:
    """The numbers of the numbered headings ("## 7. Title", "### 7.2 Title")."""
    headings = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {m.group(1) for m in re.finditer(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", headings,
                                            flags=re.M)}


def dead_links(markdown, base) -> list:
    """The links of a markdown document (in the directory ``base``) whose file does not
    exist or whose anchor is no heading of the target."""
    dead = []
    for target in LINK.findall(_prose(markdown)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (base / path).resolve() if path else None
        if file is not None and not file.exists():
            dead.append(f"{target}: no such file")
        elif anchor:
            text = file.read_text() if file is not None and file.suffix == ".md" else (
                markdown if file is None else "")
            if anchor not in anchors(text):
                dead.append(f"{target}: no heading with that anchor")
    return dead


def _document(name):
    """The file a reference names, from the repository's root or from docs/, spelled
    exactly (a case-insensitive file system would find a misspelled one), or None."""
    for base in (ROOT, ROOT / "docs"):
        file = base / name
        if file.is_file() and file.name in os.listdir(file.parent):
            return file
    return None


def dead_references(source) -> list:
    """The file references ("docs/math.md §7") in Python source whose file does not exist,
    or whose cited section does not."""
    dead = []
    for name, cited in FILE_REFERENCE.findall(source):
        file = _document(name)
        if file is None:
            dead.append(f"{name}: no such file")
            continue
        missing = set(re.findall(r"\d+(?:\.\d+)*", cited)) - sections(file.read_text())
        dead.extend(f"{name} §{n}: no such section" for n in sorted(missing))
    return dead


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_links_resolve(path):
    dead = dead_links(path.read_text(), path.parent)
    assert not dead, "\n".join(dead)


def test_file_references_in_code_resolve():
    dead = [f"{path.relative_to(ROOT)}: {d}" for directory in CODE_DIRECTORIES
            for path in sorted((ROOT / directory).rglob("*.py"))
            for d in dead_references(path.read_text())]
    assert not dead, "\n".join(dead)


def test_the_checks_find_dead_references():
    # the dead references are built from pieces, so that this file itself has none
    assert dead_references("see docs/math.md §13, §14 and docs/new_op.md") == []
    missing = "MATH" + ".md §5; docs/math.md §" + "99; docs/nowhere" + ".md"
    assert [d.split(":")[0] for d in dead_references(missing)] == [
        "MATH" + ".md", "docs/math.md §" + "99", "docs/nowhere" + ".md"]
    docs = ROOT / "docs"
    assert dead_links("[m](math.md#13-certificates) [t](#a-title)\n# A title", docs) == []
    dead = "[x](nowhere" ".md) [y](math.md#no-such-heading) [z](#gone)"
    assert len(dead_links(dead, docs)) == 3
    assert dead_links("`[x](nowhere" ".md)` [w](https://example.org)", docs) == []
