"""The shell blocks of a Markdown README, as test/test_readme.py runs them.

Conventions (stated in the README's "The README is tested" section):

* every ```bash block runs, in the order of the file, in one fresh copy of the checkout; lines
  that change the shell (``source``, ``.``, ``export``, ``cd``) carry over to later blocks, as
  in a newcomer's terminal;
* a block whose first line is ``# not run in CI: <reason>`` is reported as skipped with that
  reason (it needs a GPU, a real camera or robot, hub weights, a ROS install, hours);
* a ```text block right after a ```bash block lists lines its output must contain, in any order;
  ``...`` in such a line matches anything;
* background jobs a block starts (``&``) are stopped when the block ends (SIGINT, as Ctrl-C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ShellBlock", "shell_blocks", "carried_lines", "expected_patterns", "SKIP_MARKER"]

SKIP_MARKER = re.compile(r"^#\s*not run in CI:\s*(?P<reason>.+)$")
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_CARRIED = re.compile(r"^\s*(source|\.|export|cd)\s")


@dataclass(frozen=True)
class ShellBlock:
    """One ```bash block: where it is, its code, and the output it claims (if any)."""

    path: Path
    line: int
    heading: str
    code: str
    expected: tuple[str, ...] = ()

    @property
    def skip_reason(self) -> str | None:
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        match = SKIP_MARKER.match(first)
        return match.group("reason").strip() if match else None

    @property
    def commands(self) -> tuple[str, ...]:
        """What the block runs: its lines without comments, blank lines and the shell state it carries."""
        lines = (line.split(" #", 1)[0].strip() for line in self.code.splitlines())
        return tuple(line for line in lines if line and not line.startswith("#") and not _CARRIED.match(line))

    @property
    def name(self) -> str:
        where = f"{self.path.parent.name}/{self.path.name}" if self.path.parent.name == "training" else self.path.name
        return f"{where}:{self.line} ({self.heading})"


def shell_blocks(path: Path) -> list[ShellBlock]:
    """The ```bash blocks of ``path``, each with the ```text block that follows it, if any."""
    lines = path.read_text().splitlines()
    fenced: list[tuple[int, str, str, str]] = []  # (line, heading, lang, code)
    heading, index = "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        fence = _FENCE.match(line)
        if fence is None:
            index += 1
            continue
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith("```"):
            body.append(lines[index][len(fence.group("indent")) :])
            index += 1
        fenced.append((index - len(body), heading, fence.group("lang"), "\n".join(body) + "\n"))
        index += 1
    blocks = []
    for position, (line, title, lang, code) in enumerate(fenced):
        if lang != "bash":
            continue
        after = fenced[position + 1] if position + 1 < len(fenced) else None
        expected: tuple[str, ...] = ()
        if after is not None and after[2] == "text" and _only_blank_between(lines, line + code.count("\n"), after[0]):
            expected = tuple(text.strip() for text in after[3].splitlines() if text.strip())
        blocks.append(ShellBlock(path, line, title, code, expected))
    return blocks


def _only_blank_between(lines: list[str], closing_fence: int, next_body: int) -> bool:
    # 0-based indices: the next block's opening fence sits just before its body.
    between = lines[closing_fence + 1 : next_body - 1]
    return all(not text.strip() for text in between)


def carried_lines(code: str) -> list[str]:
    """The lines of a block that a later block's shell still feels (source, export, cd)."""
    return [line.split(" #", 1)[0].rstrip() for line in code.splitlines() if _CARRIED.match(line)]


def expected_patterns(expected: tuple[str, ...]) -> list[re.Pattern[str]]:
    """Each claimed output line as a pattern: literal text, ``...`` matching anything."""
    return [re.compile(".*".join(re.escape(part.strip()) for part in line.split("..."))) for line in expected]
