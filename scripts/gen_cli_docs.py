"""Generate docs/cli.md from the CLI's own --help (tests/test_docs.py checks it is current)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trellis.cli.main import build_parser  # noqa: E402


def _walk(parser: argparse.ArgumentParser, words: list[str]) -> list[tuple[str, str]]:
    pages = [(" ".join(words), parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                pages += _walk(sub, [*words, name])
    return pages


EXIT_STATUS = [
    "## Exit status",
    "",
    "Every command:",
    "",
    "| status | meaning |",
    "|---|---|",
    "| 0 | done |",
    "| 1 | an error (one line on stderr, with its reason: `... [REPOSITORY_NOT_FOUND]`); also `check` that found "
    "differences, `diff --exit-code` with differences, `verify` / `watch` whose verdict is not `passed` |",
    "| 2 | wrong arguments |",
    "| 130 | interrupted by Ctrl-C (SIGINT, 128 + 2), `serve` and `--follow` included: the command stops within a "
    "second. It cleans up for up to 0.7 s, then exits without finishing (safe: every acknowledged write survives "
    "a crash, an interrupted `import` resumes, the index is rebuilt from git) |",
    "| 141 | the reader of the output went away (`trellis log demo \\| head`), as for any program |",
    "",
    "`serve` stopped with SIGTERM (a service manager) exits 0 once in-flight requests finished (up to its grace "
    "period).",
    "",
]


def render() -> str:
    import os

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width; pin it
    parser = build_parser()
    parser.formatter_class = argparse.HelpFormatter
    lines = [
        "# CLI reference",
        "",
        "Generated from `trellis … --help` by `python scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
        *EXIT_STATUS,
    ]
    for command, text in _walk(parser, ["trellis"]):
        lines += [f"## `{command}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (ROOT / "docs" / "cli.md").write_text(render())
    print("wrote docs/cli.md")
