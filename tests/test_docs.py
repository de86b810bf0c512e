"""Every document the code cites ships with the repository, and every section it names exists."""

from __future__ import annotations

import re

from conftest import ROOT

#: ``docs/x.md`` optionally followed by ``, "Section"`` (quotes and backticks as written in docstrings).
CITATION = re.compile(r'docs/([\w-]+\.md)`{0,2}(?:,\s*"([^"]+)")?')


def _citations() -> list[tuple[str, str, str | None]]:
    sources = [*ROOT.glob("microfuse_cli/**/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "README.md"]
    found = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        found += [(path.relative_to(ROOT).as_posix(), m[1], m[2]) for m in CITATION.finditer(text)]
    return found


def test_cited_documents_and_sections_exist():
    citations = _citations()
    assert {name for _, name, _ in citations} >= {"method.md", "findings.md"}
    assert any(section for _, _, section in citations)  # the check below is not vacuous
    for source, name, section in citations:
        doc = ROOT / "docs" / name
        assert doc.is_file(), f"{source} cites docs/{name}, which is not in the repository"
        if section:
            headings = {line.lstrip("#").strip() for line in doc.read_text(encoding="utf-8").splitlines()
                        if line.startswith("#")}
            assert any(h == section or h.startswith(section + " (") for h in headings), \
                f"{source} cites section {section!r} of docs/{name}, which has no such heading"


def test_no_code_cites_a_path_outside_the_repository():
    for path in [*ROOT.glob("microfuse_cli/**/*.py"), *ROOT.glob("tests/*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name == "test_docs.py":
            continue
        assert "/work/shared" not in text, f"{path.relative_to(ROOT)} hard-codes a machine path"


def test_shipped_man_page_is_the_one_the_cli_generates():
    """man/microfuse.1 is regenerated whenever --help changes (`python -m microfuse_cli.manpage > man/microfuse.1`);
    a stale page documents options that are gone or misses new ones."""
    from microfuse_cli.manpage import render

    assert (ROOT / "man" / "microfuse.1").read_text(encoding="utf-8") == render(), \
        "man/microfuse.1 is stale: run python -m microfuse_cli.manpage > man/microfuse.1"


def test_train_help_says_its_bytes_depend_on_the_thread_count():
    """`train -t 1` and `-t 2` on M. pneumoniae's labelled pairs gave weights differing in their last float digits
    (torch's CPU reductions split by thread); the help promised determinism for a seed alone, so a Snakemake rule
    with `-t {threads}` (or -t 0 on another node) rebuilt a different model."""
    from conftest import run_cli

    code, out, _ = run_cli(["train", "--help"])
    assert code == 0
    text = " ".join(out.split())
    assert "Byte-identical on the CPU for a given seed and -t" in text and "-t 0 depends on" in text
