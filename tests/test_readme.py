"""Every code block of README.md runs, so the page a newcomer reads cannot drift from the code: each
Python block as a script in a fresh process, each shell line of the command-line blocks as a command
(installs are CI's own first step, and the test command is the one CI runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README, flags=re.S)
TEST_COMMAND = "python -m pytest -n auto --dist worksteal"


def _commands() -> list[str]:
    """The shell lines: what follows an install (``... && pip install ... && CMD``), comments dropped."""
    out = []
    for lang, text in BLOCKS:
        if lang != "bash":
            continue
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if "pip install" in line:
                line = line.rsplit("&& ", 1)[-1]
            if line:
                out.append(line)
    return out


def test_the_readme_has_both_kinds_of_block():
    assert sum(lang == "python" for lang, _ in BLOCKS) >= 2
    assert TEST_COMMAND in _commands() and "python -m fastnn" in _commands()


def test_the_readme_test_command_is_cis():
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(BLOCKS) if lang == "python"])
def test_python_block_runs(index, tmp_path):
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(BLOCKS[index][1])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for claim in re.findall(r"# \.\.\. (.+)", BLOCKS[index][1]):  # "# ... epoch 1000/1000   error=0.000242"
        assert claim.strip() in proc.stdout, f"the README promises {claim.strip()!r}"


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in _commands() if c != TEST_COMMAND])
def test_shell_line_runs(command, tmp_path):
    assert command.startswith("python -m fastnn"), command
    argv = [sys.executable, *command.split()[1:]]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
