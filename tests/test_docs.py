"""Every ```python block in docs/*.md runs, so the documentation cannot drift from the code.

The blocks of one page run in order in one fresh interpreter (a page's later blocks may use
names an earlier block defined, as a reader copying them into one session would), inside a
scratch folder laid out like the repository's neighbourhood, so a block's ``../shared/data``
finds the real data.  A page of self-contained recipes says so with
``<!-- blocks: independent -->``: each of its blocks then runs in its own interpreter (a
sweep's workers re-import their script, so a recipe must not carry the page before it).  A
block that cannot run on a machine like CI's says so in an HTML comment on the line before
it, ``<!-- not run: REASON -->``, and the reason is required.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
INDEPENDENT = "<!-- blocks: independent -->"


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line, code, reason it is not run or None) for each ```python block of a page."""
    blocks = []
    for m in FENCE.finditer(text):
        if m["info"].strip() != "python":
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = NOT_RUN.search(before)
        line = text.count("\n", 0, m.start()) + 1
        blocks.append((line, m["body"], skip["reason"] if skip else None))
    return blocks


PAGES = sorted(p for p in DOCS.glob("*.md") if python_blocks(p.read_text()))


def test_extraction_sees_fences_and_reasons():
    text = "a\n```python\nx = 1\n```\n<!-- not run: needs a cluster -->\n```python\ny\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n", None), (6, "y\n", "needs a cluster")]
    assert python_blocks("```bash\nls\n```\n") == []


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_doc_code_blocks_run(page, tmp_path, repo_root, shared_data):
    blocks = python_blocks(page.read_text())
    for line, _, reason in blocks:
        assert reason is None or reason.strip(), f"{page.name}:{line}: a skipped block says why"
    run = [(line, code) for line, code, reason in blocks if reason is None]
    if not run:
        pytest.skip(f"{page.name}: every block needs what CI lacks (reasons given)")
    # ../shared/data from the scratch working folder resolves to the real data
    (tmp_path / "shared").symlink_to(shared_data.parent, target_is_directory=True)
    scripts = [[(line, code)] for line, code in run]
    if INDEPENDENT not in page.read_text():
        scripts = [run]
    for i, blocks in enumerate(scripts):
        work = tmp_path / f"work{i}"
        work.mkdir()
        _run_script(page, blocks, work, repo_root)


def _run_script(page, blocks, work, repo_root):
    script = "\n".join(f"# --- {page.name}, line {line}\n{code}" for line, code in blocks)
    (work / "page.py").write_text(script)
    env = dict(
        os.environ,
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, "page.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    where = f"{page.name}:{blocks[0][0]}"
    assert proc.returncode == 0, f"{where}:\n" + proc.stdout[-2000:] + proc.stderr[-4000:]
