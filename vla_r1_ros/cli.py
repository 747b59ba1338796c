"""The ``vla-r1`` command line.

Subcommands:

``vla-r1 score [FILE] [-o OUT]``
    Score completions against ground truths with the release's reward. Reads JSON Lines
    ``{"completion": str, "ground_truth": str | object | array}`` from FILE or standard input
    and writes one JSON object per input line. A ground truth is either a full answer text with
    ``<output>...</output>`` or the answer itself (a box object or a list of points). An optional
    ``"id"`` is copied to the output. Lines that cannot be read produce ``{"line": N, "error": ...}``
    and a message on stderr; the other lines are still scored, and the exit code is then 1.

Every subcommand's result is the only thing on standard output (see :func:`result_stdout`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from .core.protocol import ParsedOutput, parse_answer_payload, parse_completion
from .core.rewards import RewardVariant, ScoreBreakdown, score_parsed_batch

EXIT_OK = 0
EXIT_BAD_LINES = 1
EXIT_USAGE = 2

_BATCH_LINES = 512


class _InputLineError(ValueError):
    pass


def _flush_c_stdio() -> None:
    """Flush the C library's stdio buffers (C code may hold standard-output bytes there)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no C library to ask
        pass


def _same_file(stream: IO[str], fd: int) -> bool:
    """Whether ``stream`` writes to the open file behind descriptor ``fd``."""
    try:
        return os.path.sameopenfile(stream.fileno(), fd)
    except (AttributeError, OSError, ValueError):  # no descriptor (an in-memory stream)
        return False


@contextlib.contextmanager
def result_stdout() -> Iterator[IO[str]]:
    """Reserve standard output for a command's result: yield a stream to it, send everything else to stderr.

    While the block runs, ``sys.stdout`` is standard error and so is file descriptor 1 (C code and
    child processes write there), so what a library prints when it is imported or used cannot mix
    with the result: DeepSpeed, for one, announces its accelerator on stdout when it is installed,
    and a consumer parsing the result as JSON then fails. Write the result to the yielded stream.
    """
    stream = sys.stdout
    stream.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    try:
        os.fstat(2)
        saved = os.dup(1)
    except OSError:  # no standard descriptors to redirect (an embedding host)
        saved = -1
    result: IO[str] = stream
    if saved >= 0:
        if _same_file(stream, saved):
            encoding = getattr(stream, "encoding", None) or "utf-8"
            result = open(os.dup(saved), "w", encoding=encoding, closefd=True)
        os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield result
    finally:
        _flush_c_stdio()
        sys.stderr.flush()
        sys.stdout = stream
        if saved >= 0:
            try:
                if result is not stream:
                    result.close()
            finally:
                os.dup2(saved, 1)
                os.close(saved)


def _read_pair(text: str) -> tuple[ParsedOutput, ParsedOutput, Any]:
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise _InputLineError(f"not valid JSON ({str(err)[:100]})") from None
    if not isinstance(record, dict):
        raise _InputLineError("expected a JSON object with 'completion' and 'ground_truth'")
    missing = [key for key in ("completion", "ground_truth") if key not in record]
    if missing:
        raise _InputLineError(f"missing key(s): {', '.join(missing)}")
    completion, truth = record["completion"], record["ground_truth"]
    if not isinstance(completion, str):
        raise _InputLineError("'completion' must be a string")
    if isinstance(truth, str):
        parsed_truth = parse_completion(truth)
    elif isinstance(truth, (dict, list)):
        parsed_truth = parse_answer_payload(truth)
    else:
        raise _InputLineError("'ground_truth' must be an answer text, a box object or a list of points")
    if parsed_truth.box is None and parsed_truth.trajectory is None:
        raise _InputLineError(f"ground truth is not a usable answer: {parsed_truth.error}")
    return parse_completion(completion), parsed_truth, record.get("id")


def _numbered_lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


def _score_stream(
    stream: IO[str], out: IO[str], variant: RewardVariant, with_metrics: bool
) -> tuple[int, int, list[ScoreBreakdown]]:
    scored: list[ScoreBreakdown] = []
    errors = 0
    batch: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal errors
        good: list[tuple[int, ParsedOutput, ParsedOutput, Any]] = []
        results: dict[int, dict[str, Any]] = {}
        for number, text in batch:
            try:
                completion, truth, record_id = _read_pair(text)
            except _InputLineError as err:
                errors += 1
                print(f"vla-r1 score: line {number}: {err}", file=sys.stderr)
                results[number] = {"line": number, "error": str(err)}
                continue
            good.append((number, completion, truth, record_id))
        breakdowns = score_parsed_batch([g[1] for g in good], [g[2] for g in good], variant, with_metrics)
        for (number, _, _, record_id), breakdown in zip(good, breakdowns):
            row: dict[str, Any] = {"line": number}
            if record_id is not None:
                row["id"] = record_id
            row.update(breakdown.to_json())
            results[number] = row
            scored.append(breakdown)
        for number, _ in batch:
            out.write(json.dumps(results[number]) + "\n")
        out.flush()
        batch.clear()

    for item in _numbered_lines(stream):
        batch.append(item)
        if len(batch) >= _BATCH_LINES:
            flush()
    if batch:
        flush()
    return len(scored), errors, scored


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _print_summary(scored: list[ScoreBreakdown]) -> None:
    by_task = {task: [s for s in scored if s.task == task] for task in ("affordance", "trajectory", "none")}
    print(
        f"scored {len(scored)}: mean score {_mean([s.score for s in scored]):.4f}, "
        f"format valid {_mean([s.format_score for s in scored]):.3f}",
        file=sys.stderr,
    )
    boxes = by_task["affordance"]
    if boxes:
        ious = [s.iou for s in boxes]
        print(
            f"  affordance {len(boxes)}: IoU {100 * _mean(ious):.2f}%, "
            f"success@0.5 {_mean([1.0 if i >= 0.5 else 0.0 for i in ious]):.3f}",
            file=sys.stderr,
        )
    paths = by_task["trajectory"]
    if paths and math.isnan(_mean([s.dfd for s in paths])):  # --no-metrics: only the reward was computed
        print(
            f"  trajectory {len(paths)}: mean reward {_mean([s.score for s in paths]):.4f} (DFD/HD/RMSE skipped)",
            file=sys.stderr,
        )
    elif paths:
        print(
            f"  trajectory {len(paths)}: DFD {_mean([s.dfd for s in paths]):.2f} HD {_mean([s.hd for s in paths]):.2f} "
            f"RMSE {_mean([s.rmse for s in paths]):.2f} Avg {_mean([s.avg for s in paths]):.2f} (x1000 scale)",
            file=sys.stderr,
        )
    if by_task["none"]:
        print(f"  not comparable (unparsable or wrong answer type): {len(by_task['none'])}", file=sys.stderr)


def _cmd_score(args: argparse.Namespace, out: IO[str]) -> int:
    variant = RewardVariant(args.variant)
    try:
        source: IO[str] = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", errors="replace")
    except OSError as err:
        print(f"vla-r1 score: cannot read {args.input}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sink: IO[str] = out if args.output == "-" else open(args.output, "w", encoding="utf-8")
    except OSError as err:
        print(f"vla-r1 score: cannot write {args.output}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _, errors, scored = _score_stream(source, sink, variant, not args.no_metrics)
    finally:
        if source is not sys.stdin:
            source.close()
        if sink is not out:
            sink.close()
    if args.summary:
        _print_summary(scored)
    elif not scored and not errors:
        print("vla-r1 score: 0 records (the input was empty)", file=sys.stderr)
    if errors:
        print(f"vla-r1 score: {errors} line(s) could not be scored (see above)", file=sys.stderr)
        return EXIT_BAD_LINES
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vla-r1", description="VLA-R1 tools: scoring, prediction, models.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score = commands.add_parser(
        "score",
        help="score completions against ground truths (JSON Lines in, JSON Lines out)",
        description=(
            'Read JSON Lines {"completion": ..., "ground_truth": ...} and write one JSON object per '
            "line with score, format_score, task_score, task, parse status and the paper's metrics "
            "(iou/giou for boxes; os_frechet, dfd, hd, rmse, avg on the x1000 scale for trajectories)."
        ),
    )
    score.add_argument("input", nargs="?", default="-", help="JSON Lines file (default: standard input)")
    score.add_argument("-o", "--output", default="-", help="where to write results (default: standard output)")
    score.add_argument(
        "--variant",
        choices=[v.value for v in RewardVariant],
        default=RewardVariant.RELEASE.value,
        help="reward definition: the release's (default) or the one robust to repeated waypoints",
    )
    score.add_argument("--no-metrics", action="store_true", help="skip DFD/HD/RMSE (faster)")
    score.add_argument("--summary", action="store_true", help="print aggregate metrics on stderr")
    score.set_defaults(handler=_cmd_score)
    from .cli_model import register as register_model_commands

    register_model_commands(commands)
    from .experiments.compare_runs import register as register_compare_runs

    register_compare_runs(commands)
    from .sim.sim_eval import register as register_sim_eval

    register_sim_eval(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with result_stdout() as out:
            return int(args.handler(args, out))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
