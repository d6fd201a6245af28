"""docs/new_op.md holds what it shows: its module is examples/my_ops.py, character for
character, and its command-line session prints what the guide says (tests/test_docs.py runs
its python blocks). concepts.md names every op."""

import importlib.util
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from gen_api import op_families

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "new_op.md").read_text()
CAN_DRAW = shutil.which("dot") is not None and importlib.util.find_spec("graphviz") is not None


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.S)


def test_the_guides_module_is_the_shipped_file():
    module = next(b for b in blocks("python") if b.startswith('"""Two ops of your own'))
    assert module == (ROOT / "examples" / "my_ops.py").read_text()


def session():
    """[(command, expected output lines)] of the guide's shell session."""
    text = next(b for b in blocks("text") if b.startswith("$ python -c"))
    steps = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def test_the_guides_session_prints_what_it_shows(tmp_path):
    shutil.copy(ROOT / "examples" / "my_ops.py", tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's graph and rop
    for command, expected in session():
        argv = shlex.split(command)
        if argv[0] == "rop":  # the console script is python -m rop
            argv = [sys.executable, "-m", "rop", *argv[1:]]
        elif argv[0] == "python":
            argv[0] = sys.executable
        if "draw" in argv and not CAN_DRAW:
            continue  # needs Graphviz: tests/test_cli.py covers drawing where it is
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert (done.stdout + done.stderr).splitlines() == expected, command
    assert (tmp_path / "f.json").exists()
    if CAN_DRAW:
        assert (tmp_path / "hvp_x.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("family, names", op_families(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_concepts_names_every_op(family, names):
    concepts = (ROOT / "docs" / "concepts.md").read_text()
    listed = set(re.findall(r"\w+", concepts[concepts.index("The op set"):].split("\n\n")[0]))
    missing = [n for n in names if n.removeprefix("graph.") not in listed]
    assert not missing, f"docs/concepts.md's op list lacks {missing} ({family})"
