"""The READMEs are executable: every shell block runs, in order, in a fresh copy of the checkout.

See test/readme_blocks.py for the conventions (skip marker, claimed output, carried shell state).
A copy of the working tree (tracked and untracked-but-not-ignored files, as a fresh clone would
have them plus uncommitted work) is made once per README; its blocks run in a shell with a
newcomer's environment: no venv active, nothing sourced until a block sources it. The shared venv
and the vendored ROS 2 prefix are reused (they are machine state, built once). Runs only inside a
loopback-only network namespace (conftest.ros_sandbox): the ROS blocks start nodes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from readme_blocks import ShellBlock, carried_lines, expected_patterns, shell_blocks

pytestmark = pytest.mark.usefixtures("ros_sandbox")

ROOT = Path(__file__).resolve().parent.parent
READMES = [ROOT / "README.md", ROOT / "training" / "README.md"]
BLOCK_TIMEOUT_S = 300
# What a newcomer's terminal has, plus where this machine keeps the shared environment.
PASSED_THROUGH = ("HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "XDG_DATA_HOME", "VLA_R1_VENV", "VLA_R1_PYTHON")


def fresh_copy(destination: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    copy_compiled_kernels(destination)
    return destination


def copy_compiled_kernels(destination: Path) -> None:
    """This checkout's numba cache into the copy. Numba keys a kernel by its source file's stamp
    (copy2 keeps it) and bytecode, so a copied kernel is used only where the code is the same.
    A newcomer's first run compiles them once (about 25 s, as the README says); the doc test checks
    the commands, and compiling them twice more would take a tenth of its time budget."""
    for folder in ("vla_r1_ros", "training"):
        for kernel in (ROOT / folder).rglob("__pycache__/*.nb[ic]"):
            target = destination / kernel.relative_to(ROOT)
            if target.parent.parent.is_dir():  # its source folder is in the copy
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(kernel, target)


def newcomer_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    # The copy has no ../shared beside it: point setup at this checkout's vendored sources.
    vendor = os.environ.get("VLA_R1_ROS2_VENDOR", str(ROOT.parent / "shared" / "ros2_vendor"))
    if Path(vendor).is_dir():
        env["VLA_R1_ROS2_VENDOR"] = vendor
    return env


def run_block(block: ShellBlock, checkout: Path, carried: list[str]) -> subprocess.CompletedProcess[str]:
    script = "\n".join([*carried, "set -eo pipefail", block.code])
    # Its own session: when the block ends, whatever it started in the background (and their
    # children, e.g. the nodes `ros2 launch` starts) is stopped with it, as Ctrl-C would. Output
    # goes to files: background processes keep a pipe open after the block itself has ended.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=checkout,
            env=newcomer_environment(),
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            returncode = -1
        finally:
            stop_session(process.pid)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(process.args, returncode, stdout.read(), stderr.read())


def stop_session(session: int) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to every process left in the block's session."""
    for number, grace in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(session, number)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(session, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _cases() -> list[Any]:
    return [
        pytest.param(readme, index, id=block.name)
        for readme in READMES
        for index, block in enumerate(shell_blocks(readme))
    ]


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, tuple[Path, list[str]]]]:
    """One fresh copy per README, with the shell lines its earlier blocks carried over."""
    made = {}
    for readme in READMES:
        destination = tmp_path_factory.mktemp(readme.parent.name or "root") / "vla_r1_ros"
        made[readme] = (fresh_copy(destination), [])
    yield made
    # Setup in a copy points the shared venv's editable install (the vla-r1 commands) at that
    # copy; point it back at this checkout before the copies are deleted.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(ROOT)],
        check=True,
        capture_output=True,
    )


def runs_in_its_own_readme(block: ShellBlock, readmes: list[Path] = READMES) -> ShellBlock | None:
    """The same commands in the README of a subfolder (their home, e.g. training/), where they run."""
    for readme in readmes:
        if readme.parent != block.path.parent and readme.parent.is_relative_to(block.path.parent):
            for other in shell_blocks(readme):
                if other.skip_reason is None and other.commands == block.commands:
                    return other
    return None


@pytest.mark.parametrize(("readme", "index"), _cases())
def test_readme_block_runs_and_prints_what_the_readme_shows(
    readme: Path, index: int, checkouts: dict[Path, tuple[Path, list[str]]]
) -> None:
    block = shell_blocks(readme)[index]
    checkout, carried = checkouts[readme]
    reason = block.skip_reason
    if reason is not None:  # a newcomer without that hardware skips it too: nothing carries over
        pytest.skip(f"{block.name}: {reason}")
    home = runs_in_its_own_readme(block)
    if home is not None and not block.expected:  # the same commands run there: once is enough
        pytest.skip(f"{block.name}: the same commands as {home.name}, which runs")
    started = time.monotonic()
    done = run_block(block, checkout, carried)
    carried.extend(line for line in carried_lines(block.code) if line not in carried)
    output = done.stdout + done.stderr
    elapsed = time.monotonic() - started
    how = "timed out" if done.returncode == -1 else f"exited {done.returncode}"
    failure = f"{block.name} {how} after {elapsed:.0f} s:\n{block.code}\n{output[-5000:]}"
    assert done.returncode == 0, failure
    missing = [
        p.pattern for p in expected_patterns(block.expected) if not any(p.search(line) for line in output.splitlines())
    ]
    assert not missing, f"{block.name}: output lacks {missing}:\n{output[-5000:]}"


def test_the_block_parser_reads_skips_claims_and_carried_lines(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n```bash\nsource scripts/env.sh   # the environment\necho hi\n```\n\n```text\nh...\n```\n\n"
        "## Other\n\n```bash\n# not run in CI: needs a GPU\nnvidia-smi\n```\n\n```python\nprint(1)\n```\n"
    )
    first, second = shell_blocks(page)
    assert (first.heading, first.line, first.expected) == ("Title", 3, ("h...",))
    assert carried_lines(first.code) == ["source scripts/env.sh"]
    assert expected_patterns(first.expected)[0].search("hi") and first.skip_reason is None
    assert (second.heading, second.skip_reason, second.expected) == ("Other", "needs a GPU", ())


def test_a_block_repeating_a_subfolder_readme_runs_only_there(tmp_path: Path) -> None:
    top, sub = tmp_path / "README.md", tmp_path / "training" / "README.md"
    sub.parent.mkdir()
    sub.write_text("# Tour\n\n```bash\n# a few steps\nvla-r1-train sft --config c.yaml\n```\n")
    top.write_text(
        "# Training\n\n```bash\nsource scripts/env.sh\nvla-r1-train sft --config c.yaml  # tiny\n```\n\n"
        "# Other\n\n```bash\nvla-r1-train sft --config d.yaml\n```\n"
    )
    same, other = shell_blocks(top)
    home = runs_in_its_own_readme(same, [top, sub])
    assert home is not None and home.path == sub, "the repeated commands run in training/README.md"
    assert runs_in_its_own_readme(other, [top, sub]) is None, "different commands still run here"
    assert runs_in_its_own_readme(shell_blocks(sub)[0], [top, sub]) is None, "the home block itself runs"
