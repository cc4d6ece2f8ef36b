"""trellis.toml: parsing, every rejection with its exact message, defaults, canonical form, hashing, globs."""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis import semantic_diff
from trellis.ci.pipeline.globs import GlobError, branch_matches, check_glob, path_matches
from trellis.ci.pipeline.model import (
    CHANGE_CLASSES,
    DEFAULT_TOOL_CACHES,
    ENTITY_KINDS,
    Pipeline,
    PipelineConfigError,
    PipelineError,
    Protection,
    PytestOptions,
    Selectors,
    Stage,
    StageLimits,
    UnknownStage,
)
from trellis.ci.pipeline.placeholders import (
    PLACEHOLDERS,
    SCOPE_PLACEHOLDERS,
    TemplateError,
    check_template,
    render_template,
)
from trellis.ci.pipeline.toml import MAX_CONFIG_BYTES, MAX_STAGES, format_pipeline, parse_pipeline
from trellis.ci.pipeline.units import format_duration, format_size, parse_duration, parse_size
from trellis.semantic_diff.languages.registry import LANGUAGES

ROOT = Path(__file__).resolve().parents[3]

EXAMPLE = """
[stages.syntax]
kind = "syntax"                 # built in: tree-sitter parse errors
scope = "file"
when.languages = ["python", "typescript"]

[stages.lint]
run = "ruff check {paths}"
when.paths = ["**/*.py"]
needs = ["syntax"]

[stages.unit]
kind = "pytest"
select = "affected"
args = ["-x"]
needs = ["syntax"]
timeout = "30s"

[stages.review]
kind = "external"
scope = "entity"
when.paths = ["src/payments/**"]
when.entities = ["function", "method"]
when.changes = ["added", "modified"]

[protect.main]
required = ["syntax", "unit", "review"]
"""


def rejects(text: str | bytes, *, source: str = "trellis.toml") -> PipelineConfigError:
    with pytest.raises(PipelineConfigError) as info:
        parse_pipeline(text, source=source)
    return info.value


# -- a valid pipeline -----------------------------------------------------------------------------


def test_the_example_parses_with_its_defaults() -> None:
    pipeline = parse_pipeline(EXAMPLE)
    assert pipeline.names == ("syntax", "lint", "unit", "review")
    assert pipeline.source == "trellis.toml" and pipeline.text == EXAMPLE
    syntax, lint, unit, review = pipeline.stages
    assert syntax == Stage(
        name="syntax", kind="syntax", scope="file", selectors=Selectors(languages=("python", "typescript"))
    )
    assert lint.kind == "command" and lint.scope == "commit" and lint.run == "ruff check {paths}"
    assert lint.needs == ("syntax",) and lint.cache is True and lint.selectors.paths == ("**/*.py",)
    assert lint.limits == StageLimits(
        timeout_s=60.0, cpu_s=60.0, memory_bytes=2 * 1024**3, processes=128, output_bytes=4 * 1024**2
    )
    assert unit.select == "affected" and unit.args == ("-x",) and unit.timeout_s == 30.0
    assert unit.limits.cpu_s == 30.0  # the CPU limit follows the timeout unless set
    assert review.kind == "external" and review.cache is False and review.timeout_s == 24 * 3600
    assert review.selectors == Selectors(
        paths=("src/payments/**",), entities=("function", "method"), changes=("added", "modified")
    )
    assert pipeline.protections == (Protection(branch="main", required=("syntax", "unit", "review")),)


def test_every_option() -> None:
    pipeline = parse_pipeline("""
[stages.check]
kind = "command"
scope = "entity"
run = "check --name {name} {qualname} {kind} {language} {change} {path} {paths} {commit} {stage} {{x}}"
needs = []
timeout = "1m30s"
env = { B = "2", A = "1" }
cache = false
limits = { memory = "512MiB", cpu = "2m", processes = 16, output = 1000 }
when.paths = ["src/**"]
when.exclude = ["src/vendor/**"]
when.languages = ["python"]
when.entities = ["function"]
when.changes = ["added", "moved_renamed"]

[stages.tests]
kind = "pytest"
select = "all"
args = ["-q", "-q"]
env.PYTHONHASHSEED = "0"
""")
    check, tests = pipeline.stages
    assert check.timeout_s == 90.0 and check.cache is False
    assert check.env == (("A", "1"), ("B", "2"))
    assert check.limits == StageLimits(
        timeout_s=90.0, cpu_s=120.0, memory_bytes=512 * 1024**2, processes=16, output_bytes=1000
    )
    assert check.selectors.exclude == ("src/vendor/**",) and check.selectors.changes == ("added", "moved_renamed")
    assert tests.select == "all" and tests.args == ("-q", "-q") and tests.env == (("PYTHONHASHSEED", "0"),)


def test_an_empty_file_is_an_empty_pipeline() -> None:
    for text in ("", b"", "# nothing yet\n", "[stages]\n", "\ufeff"):
        assert parse_pipeline(text) == Pipeline(
            text=str(text.decode() if isinstance(text, bytes) else text).removeprefix("\ufeff")
        )


def test_scope_defaults_and_kind_inference() -> None:
    pipeline = parse_pipeline(
        '[stages.a]\nrun = "x"\n[stages.b]\nkind = "syntax"\n'
        '[stages.c]\nkind = "pytest"\n[stages.d]\nkind = "external"\n'
    )
    assert [(s.kind, s.scope) for s in pipeline.stages] == [
        ("command", "commit"),
        ("syntax", "file"),
        ("pytest", "commit"),
        ("external", "commit"),
    ]
    assert pipeline.stage("c").select == "affected"


def test_stages_are_in_dependency_order_ties_by_declaration() -> None:
    pipeline = parse_pipeline("""
[stages.deploy]
run = "d"
needs = ["unit", "lint"]
[stages.unit]
run = "u"
needs = ["build"]
[stages.lint]
run = "l"
[stages.build]
run = "b"
[stages.docs]
run = "x"
""")
    assert pipeline.names == ("lint", "build", "unit", "deploy", "docs")


def test_lists_drop_duplicates_but_args_keep_them() -> None:
    pipeline = parse_pipeline('[stages.a]\nkind = "pytest"\nargs = ["-x", "-x"]\nwhen.paths = ["a", "a"]\n')
    assert pipeline.stages[0].args == ("-x", "-x")
    assert pipeline.stages[0].selectors.paths == ("a",)


def test_bytes_and_source_name() -> None:
    pipeline = parse_pipeline(EXAMPLE.encode(), source="repositories/demo/pipeline")
    assert pipeline.source == "repositories/demo/pipeline" and pipeline.text == EXAMPLE
    error = rejects(b"[stages.a]\nrun = 1\n", source="repositories/demo/pipeline")
    assert str(error) == "repositories/demo/pipeline: stages.a.run: expected a string, got an integer"


# -- rejections -----------------------------------------------------------------------------------

REJECTIONS: list[tuple[str, str | bytes, str]] = [
    # the file
    (
        "toml",
        '[stages.a]\nrun = "x"\nrun = "y"\n',
        "trellis.toml: line 3, column 10: invalid TOML: cannot overwrite a value",
    ),
    (
        "toml-eof",
        "[stages.a]\nrun = [",
        "trellis.toml: line 2, column 8: invalid TOML: invalid value at the end of the file",
    ),
    ("utf8", b'[stages.a]\nrun = "caf\xe9"\n', "trellis.toml: line 2, column 11: invalid UTF-8 at byte 22"),
    (
        "surrogate",
        '[stages.a]\nrun = "\ud800"\n',
        "trellis.toml: the text is not valid Unicode (a lone surrogate at character 19)",
    ),
    (
        "top-level table",
        '[stage.a]\nrun = "x"\n',
        'trellis.toml: stage: unknown top-level table, did you mean "stages"? (expected one of: stages, protect)',
    ),
    (
        "top-level key",
        "version = 1\n",
        "trellis.toml: version: unknown top-level key (expected one of: stages, protect)",
    ),
    ("stages type", "stages = 3\n", "trellis.toml: stages: expected a table, got an integer"),
    ("stages array", "[[stages]]\nrun = 'x'\n", "trellis.toml: stages: expected a table, got an array"),
    ("protect type", "protect = []\n", "trellis.toml: protect: expected a table, got an array"),
    # stage names and keys
    (
        "stage name",
        '[stages.Unit]\nrun = "x"\n',
        'trellis.toml: stages.Unit: a stage name is 1 to 63 characters of a-z, 0-9, "_" and "-", '
        "starting with a letter or a digit",
    ),
    (
        "stage name quoted",
        '[stages."unit tests"]\nrun = "x"\n',
        'trellis.toml: stages."unit tests": a stage name is 1 to 63 characters of a-z, 0-9, "_" and "-", '
        "starting with a letter or a digit",
    ),
    (
        "stage name long",
        f'[stages.{"a" * 64}]\nrun = "x"\n',
        f'trellis.toml: stages.{"a" * 64}: a stage name is 1 to 63 characters of a-z, 0-9, "_" and "-", '
        "starting with a letter or a digit",
    ),
    ("stage type", "[stages]\nunit = 3\n", "trellis.toml: stages.unit: expected a table, got an integer"),
    (
        "unknown key",
        '[stages.a]\nrun = "x"\ntimout = "1s"\n',
        'trellis.toml: stages.a.timout: unknown key, did you mean "timeout"? (expected one of: kind, scope, '
        "run, select, args, inert, always_full, needs, timeout, env, cache, limits, when, fail_fast, shards, "
        "test_timeout, test_timeout_factor, test_timeout_floor, environment, load_tests, tool_caches)",
    ),
    (
        "unknown key far",
        '[stages.a]\nrun = "x"\nzzz = 1\n',
        "trellis.toml: stages.a.zzz: unknown key (expected one of: kind, scope, run, select, args, inert, "
        "always_full, needs, timeout, env, cache, limits, when, fail_fast, shards, test_timeout, "
        "test_timeout_factor, test_timeout_floor, environment, load_tests, tool_caches)",
    ),
    (
        "no run no kind",
        "[stages.a]\nneeds = []\n",
        'trellis.toml: stages.a.run: missing: a stage needs "run" (a shell command) or a "kind" '
        '("syntax", "pytest" or "external")',
    ),
    (
        "command without run",
        '[stages.a]\nkind = "command"\n',
        "trellis.toml: stages.a.run: missing: a command stage needs the shell command to run",
    ),
    ("empty run", '[stages.a]\nrun = "  "\n', "trellis.toml: stages.a.run: the command is empty"),
    # kind, scope, select
    (
        "kind",
        '[stages.a]\nkind = "pytests"\n',
        'trellis.toml: stages.a.kind: unknown kind "pytests", did you mean "pytest"? '
        "(expected one of: command, syntax, pytest, external)",
    ),
    ("kind type", "[stages.a]\nkind = 1\n", "trellis.toml: stages.a.kind: expected a string, got an integer"),
    (
        "scope",
        '[stages.a]\nrun = "x"\nscope = "files"\n',
        'trellis.toml: stages.a.scope: unknown scope "files", did you mean "file"? '
        "(expected one of: commit, file, entity)",
    ),
    (
        "syntax scope",
        '[stages.a]\nkind = "syntax"\nscope = "entity"\n',
        'trellis.toml: stages.a.scope: syntax stages check whole files: scope must be "file" or "commit"',
    ),
    (
        "select",
        '[stages.a]\nkind = "pytest"\nselect = "some"\n',
        'trellis.toml: stages.a.select: unknown select "some" (expected one of: affected, all)',
    ),
    (
        "select on command",
        '[stages.a]\nrun = "x"\nselect = "all"\n',
        'trellis.toml: stages.a.select: only pytest stages take "select"',
    ),
    (
        "args on command",
        '[stages.a]\nrun = "x"\nargs = ["-x"]\n',
        'trellis.toml: stages.a.args: only pytest stages take "args"; put arguments in "run"',
    ),
    (
        "run on pytest",
        '[stages.a]\nkind = "pytest"\nrun = "pytest"\n',
        'trellis.toml: stages.a.run: pytest stages run pytest themselves; put extra arguments in "args"',
    ),
    (
        "run on syntax",
        '[stages.a]\nkind = "syntax"\nrun = "x"\n',
        "trellis.toml: stages.a.run: syntax stages are built in and run no command",
    ),
    (
        "env on syntax",
        '[stages.a]\nkind = "syntax"\nenv = {A = "1"}\n',
        "trellis.toml: stages.a.env: syntax stages are built in and run no command, so env does not apply",
    ),
    (
        "run on external",
        '[stages.a]\nkind = "external"\nrun = "x"\n',
        "trellis.toml: stages.a.run: external stages run nothing (a reviewer posts the verdict), so run does not apply",
    ),
    (
        "cache on external",
        '[stages.a]\nkind = "external"\ncache = false\n',
        "trellis.toml: stages.a.cache: external stages run nothing (a reviewer posts the verdict), "
        "so cache does not apply",
    ),
    (
        "limits on external",
        '[stages.a]\nkind = "external"\nlimits = {}\n',
        "trellis.toml: stages.a.limits: external stages run nothing (a reviewer posts the verdict), "
        "so limits does not apply",
    ),
    # types
    ("run type", "[stages.a]\nrun = ['x']\n", "trellis.toml: stages.a.run: expected a string, got an array"),
    (
        "cache type",
        '[stages.a]\nrun = "x"\ncache = "yes"\n',
        "trellis.toml: stages.a.cache: expected true or false, got a string",
    ),
    (
        "needs string",
        '[stages.a]\nrun = "x"\nneeds = "b"\n',
        'trellis.toml: stages.a.needs: expected an array of strings, got a string (write ["b"])',
    ),
    (
        "needs item",
        '[stages.a]\nrun = "x"\nneeds = [1]\n',
        "trellis.toml: stages.a.needs[0]: expected a string, got an integer",
    ),
    (
        "args type",
        '[stages.a]\nkind = "pytest"\nargs = {x = 1}\n',
        "trellis.toml: stages.a.args: expected an array of strings, got a table",
    ),
    (
        "when type",
        '[stages.a]\nrun = "x"\nwhen = "always"\n',
        "trellis.toml: stages.a.when: expected a table, got a string",
    ),
    (
        "when key",
        '[stages.a]\nrun = "x"\nwhen.path = ["a"]\n',
        'trellis.toml: stages.a.when.path: unknown key, did you mean "paths"? '
        "(expected one of: paths, exclude, languages, entities, changes)",
    ),
    (
        "when empty",
        '[stages.a]\nrun = "x"\nwhen.paths = []\n',
        "trellis.toml: stages.a.when.paths: the list is empty, so it would match nothing; "
        "remove the key to match everything",
    ),
    (
        "timeout date",
        '[stages.a]\nrun = "x"\ntimeout = 1979-05-27\n',
        'trellis.toml: stages.a.timeout: expected a duration such as "30s" or "500ms", got a date or time',
    ),
    # durations and sizes
    (
        "duration",
        '[stages.unit]\nkind = "pytest"\ntimeout = "soon"\n',
        'trellis.toml: stages.unit.timeout: expected a duration such as "30s" or "500ms", got "soon"',
    ),
    (
        "duration zero",
        '[stages.a]\nrun = "x"\ntimeout = "0s"\n',
        'trellis.toml: stages.a.timeout: expected a duration such as "30s" or "500ms", got "0s"',
    ),
    (
        "duration negative",
        '[stages.a]\nrun = "x"\ntimeout = -5\n',
        'trellis.toml: stages.a.timeout: expected a positive duration such as "30s" or "500ms", got -5',
    ),
    (
        "duration bool",
        '[stages.a]\nrun = "x"\ntimeout = true\n',
        'trellis.toml: stages.a.timeout: expected a duration such as "30s" or "500ms", got a boolean',
    ),
    (
        "timeout cap",
        '[stages.a]\nrun = "x"\ntimeout = "25h"\n',
        'trellis.toml: stages.a.timeout: "25h" is over the limit of 1d',
    ),
    (
        "external timeout cap",
        '[stages.a]\nkind = "external"\ntimeout = "8d"\n',
        'trellis.toml: stages.a.timeout: "8d" is over the limit of 7d',
    ),
    (
        "size",
        '[stages.a]\nrun = "x"\nlimits.memory = "lots"\n',
        'trellis.toml: stages.a.limits.memory: expected a size such as "512MiB" or "1GiB", got "lots"',
    ),
    (
        "size unit",
        '[stages.a]\nrun = "x"\nlimits.output = "1 parsec"\n',
        'trellis.toml: stages.a.limits.output: expected a size such as "512MiB" or "1GiB", got "1 parsec"',
    ),
    (
        "size zero",
        '[stages.a]\nrun = "x"\nlimits.memory = 0\n',
        'trellis.toml: stages.a.limits.memory: expected a positive size such as "512MiB" or "1GiB", got 0',
    ),
    (
        "memory cap",
        '[stages.a]\nrun = "x"\nlimits = {memory = "100GiB"}\n',
        'trellis.toml: stages.a.limits.memory: "100GiB" is over the limit of 64GiB',
    ),
    (
        "output cap",
        '[stages.a]\nrun = "x"\nlimits = {output = 1000000000}\n',
        "trellis.toml: stages.a.limits.output: 1000000000 is over the limit of 64MiB",
    ),
    (
        "cpu cap",
        '[stages.a]\nrun = "x"\nlimits = {cpu = "2d"}\n',
        'trellis.toml: stages.a.limits.cpu: "2d" is over the limit of 1d',
    ),
    (
        "processes cap",
        '[stages.a]\nrun = "x"\nlimits = {processes = 100000}\n',
        "trellis.toml: stages.a.limits.processes: 100000 is over the limit of 4096",
    ),
    (
        "processes type",
        '[stages.a]\nrun = "x"\nlimits = {processes = "many"}\n',
        "trellis.toml: stages.a.limits.processes: expected a positive integer, got a string",
    ),
    (
        "processes zero",
        '[stages.a]\nrun = "x"\nlimits = {processes = 0}\n',
        "trellis.toml: stages.a.limits.processes: expected a positive integer, got 0",
    ),
    (
        "limits key",
        '[stages.a]\nrun = "x"\nlimits = {mem = "1GiB"}\n',
        'trellis.toml: stages.a.limits.mem: unknown key, did you mean "memory"? '
        "(expected one of: memory, cpu, processes, output)",
    ),
    # env
    (
        "env name",
        '[stages.a]\nrun = "x"\nenv = {"1X" = "y"}\n',
        "trellis.toml: stages.a.env.1X: an environment variable name is letters, digits and _, "
        "not starting with a digit",
    ),
    (
        "env reserved",
        '[stages.a]\nrun = "x"\nenv = {TRELLIS_COMMIT = "y"}\n',
        "trellis.toml: stages.a.env.TRELLIS_COMMIT: names starting with TRELLIS_ are reserved for the engine",
    ),
    (
        "env value",
        '[stages.a]\nrun = "x"\nenv = {A = 1}\n',
        "trellis.toml: stages.a.env.A: expected a string, got an integer",
    ),
    (
        "env nul",
        '[stages.a]\nrun = "x"\nenv = {A = "\\u0000"}\n',
        "trellis.toml: stages.a.env.A: the value contains a NUL character",
    ),
    # placeholders
    (
        "placeholder unknown",
        '[stages.a]\nrun = "x {pth}"\n',
        "trellis.toml: stages.a.run: unknown placeholder {pth}, did you mean {path}? (placeholders: {path}, "
        '{paths}, {qualname}, {name}, {kind}, {language}, {change}, {commit}, {stage}; write "{{" and "}}" '
        "for literal braces)",
    ),
    (
        "placeholder shell",
        '[stages.a]\nrun = "echo ${HOME}"\n',
        "trellis.toml: stages.a.run: unknown placeholder {HOME} (placeholders: {path}, "
        '{paths}, {qualname}, {name}, {kind}, {language}, {change}, {commit}, {stage}; write "{{" and "}}" '
        "for literal braces)",
    ),
    (
        "placeholder unmatched",
        '[stages.a]\nrun = "awk \'{print}\' {path"\nscope = "file"\n',
        "trellis.toml: stages.a.run: unknown placeholder {print} (placeholders: {path}, "
        '{paths}, {qualname}, {name}, {kind}, {language}, {change}, {commit}, {stage}; write "{{" and "}}" '
        "for literal braces)",
    ),
    (
        "placeholder open brace",
        '[stages.a]\nrun = "x {"\n',
        'trellis.toml: stages.a.run: unmatched "{" at character 3; write "{{" for a literal brace',
    ),
    (
        "placeholder close brace",
        '[stages.a]\nrun = "x }"\n',
        'trellis.toml: stages.a.run: unmatched "}" at character 3; write "}}" for a literal brace',
    ),
    (
        "placeholder scope file",
        '[stages.a]\nrun = "x {qualname}"\nscope = "file"\n',
        "trellis.toml: stages.a.run: {qualname} is not available in a file-scope stage "
        "(it has {path}, {paths}, {language}, {change}, {commit}, {stage})",
    ),
    (
        "placeholder scope commit",
        '[stages.a]\nrun = "x {path}"\n',
        "trellis.toml: stages.a.run: {path} is not available in a commit-scope stage "
        "(it has {paths}, {commit}, {stage})",
    ),
    # selectors
    (
        "glob negation",
        '[stages.a]\nrun = "x"\nwhen.paths = ["!docs/**"]\n',
        'trellis.toml: stages.a.when.paths[0]: "!docs/**": negation (a leading "!") is not supported; '
        "list the pattern in when.exclude",
    ),
    (
        "glob class",
        '[stages.a]\nrun = "x"\nwhen.exclude = ["a", "src/[ab"]\n',
        'trellis.toml: stages.a.when.exclude[1]: "src/[ab": the pattern has an unclosed "["',
    ),
    (
        "glob dotdot",
        '[stages.a]\nrun = "x"\nwhen.paths = ["../x"]\n',
        'trellis.toml: stages.a.when.paths[0]: "../x": a ".." segment never matches a normalised repository path',
    ),
    (
        "glob empty",
        '[stages.a]\nrun = "x"\nwhen.paths = [""]\n',
        'trellis.toml: stages.a.when.paths[0]: "": the pattern is empty',
    ),
    (
        "language",
        '[stages.a]\nrun = "x"\nwhen.languages = ["python", "pyhton"]\n',
        'trellis.toml: stages.a.when.languages[1]: unknown language "pyhton", did you mean "python"? '
        "(expected one of: python, javascript, typescript, tsx, go, rust, java, json, yaml, toml)",
    ),
    (
        "entity kind",
        '[stages.a]\nrun = "x"\nwhen.entities = ["functions"]\n',
        'trellis.toml: stages.a.when.entities[0]: unknown entity kind "functions", did you mean "function"? '
        f"(expected one of: {', '.join(ENTITY_KINDS)})",
    ),
    (
        "change class",
        '[stages.a]\nrun = "x"\nwhen.changes = ["deleted"]\n',
        'trellis.toml: stages.a.when.changes[0]: unknown change class "deleted" '
        "(expected one of: added, removed, modified, renamed, moved, moved_renamed)",
    ),
    # needs
    (
        "needs unknown",
        '[stages.syntax]\nkind = "syntax"\n[stages.lint]\nrun = "x"\nneeds = ["syntx"]\n',
        'trellis.toml: stages.lint.needs[0]: unknown stage "syntx", did you mean "syntax"?',
    ),
    (
        "needs self",
        '[stages.a]\nrun = "x"\nneeds = ["a"]\n',
        'trellis.toml: stages.a.needs[0]: a stage cannot need itself ("a")',
    ),
    (
        "cycle",
        '[stages.x]\nrun = "x"\n[stages.c]\nrun = "x"\nneeds = ["a"]\n[stages.a]\nrun = "x"\n'
        'needs = ["b"]\n[stages.b]\nrun = "x"\nneeds = ["x", "c"]\n',
        "trellis.toml: stages.c.needs: a cycle in needs: c -> a -> b -> c",
    ),
    # protections
    (
        "protect unknown stage",
        '[stages.unit]\nkind = "pytest"\n[protect.main]\nrequired = ["unti"]\n',
        'trellis.toml: protect.main.required[0]: unknown stage "unti", did you mean "unit"?',
    ),
    (
        "protect missing",
        '[stages.unit]\nkind = "pytest"\n[protect.main]\n',
        "trellis.toml: protect.main.required: missing: list the stages that must pass",
    ),
    (
        "protect empty",
        '[stages.unit]\nkind = "pytest"\n[protect.main]\nrequired = []\n',
        "trellis.toml: protect.main.required: the list is empty",
    ),
    (
        "protect key",
        '[stages.unit]\nkind = "pytest"\n[protect.main]\nrequired = ["unit"]\nrequire = []\n',
        'trellis.toml: protect.main.require: unknown key, did you mean "required"? (expected one of: required)',
    ),
    ("protect type", '[protect]\nmain = ["unit"]\n', "trellis.toml: protect.main: expected a table, got an array"),
    (
        "protect glob",
        '[stages.unit]\nkind = "pytest"\n[protect."release/[1"]\nrequired = ["unit"]\n',
        'trellis.toml: protect."release/[1": "release/[1" is not a branch pattern: the pattern has an unclosed "["',
    ),
    # sizes of the whole
    (
        "too many stages",
        "".join(f'[stages.s{i}]\nrun = "x"\n' for i in range(MAX_STAGES + 1)),
        f"trellis.toml: stages: {MAX_STAGES + 1} stages; the limit is {MAX_STAGES}",
    ),
    (
        "too big",
        "#" * (MAX_CONFIG_BYTES + 1),
        f"trellis.toml: the file is {MAX_CONFIG_BYTES + 1} bytes; the limit is {MAX_CONFIG_BYTES} (64 KiB)",
    ),
    (
        "too big bytes",
        b"#" * (MAX_CONFIG_BYTES + 1),
        f"trellis.toml: the file is {MAX_CONFIG_BYTES + 1} bytes; the limit is {MAX_CONFIG_BYTES} (64 KiB)",
    ),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in REJECTIONS], ids=[i for i, _, _ in REJECTIONS])
def test_rejection(text: str | bytes, message: str) -> None:
    error = rejects(text)
    assert str(error) == message
    assert error.source == "trellis.toml"
    assert message == ": ".join(p for p in ("trellis.toml", error.field or _locator(error), error.detail) if p)


def _locator(error: PipelineConfigError) -> str:
    return f"line {error.line}, column {error.column}" if error.line else ""


def test_the_error_carries_source_field_detail_and_reason() -> None:
    error = rejects('[stages.unit]\nkind = "pytest"\ntimeout = "soon"\n', source="ci/trellis.toml")
    assert isinstance(error, PipelineError) and isinstance(error, ValueError)
    assert (error.source, error.field) == ("ci/trellis.toml", "stages.unit.timeout")
    assert error.detail == 'expected a duration such as "30s" or "500ms", got "soon"'
    assert error.reason == "INVALID_PIPELINE"
    assert error.metadata == {"source": "ci/trellis.toml", "field": "stages.unit.timeout"}
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is PipelineConfigError and str(copy) == str(error) and copy.field == error.field


def test_toml_errors_carry_the_line() -> None:
    error = rejects('[stages.a]\nrun = "x"\nbroken line\n')
    assert (error.field, error.line, error.column) == ("", 3, 8)
    assert str(error).startswith("trellis.toml: line 3, column 8: invalid TOML: ")


def test_no_input_escapes_as_a_bare_exception() -> None:
    for text in (
        "[stages.a]\nrun = 'x'\nwhen = {paths = [[1]]}\n",
        "[stages.a]\nenv = 3\nkind = 'pytest'\n",
        "[stages.a]\nkind = 'pytest'\nlimits = 3\n",
        "[protect.'']\nrequired = ['a']\n",
        "[stages.a]\nrun = 'x'\ntimeout = nan\n",
        "[stages.a]\nrun = 'x'\ntimeout = inf\n",
        "[stages.a]\nrun = 'x'\nlimits.memory = 1.5\n",
    ):
        rejects(text)
    with pytest.raises(PipelineConfigError, match="expected the text of a TOML file, got an integer"):
        parse_pipeline(3)  # type: ignore[arg-type]


# The parser never raises anything but PipelineConfigError, whatever the text.
TOML_ATOMS = st.sampled_from(
    [
        '"x"',
        '"{path}"',
        "1",
        "-1",
        "true",
        "[]",
        '["a"]',
        "{}",
        '{a = "b"}',
        '"30s"',
        '"1GiB"',
        '"python"',
        '"function"',
        '"added"',
        "1.5",
        '"pytest"',
        '"entity"',
    ]
)
TOML_KEYS = st.sampled_from(
    [
        "kind",
        "scope",
        "run",
        "select",
        "args",
        "needs",
        "timeout",
        "env",
        "cache",
        "limits",
        "when",
        "when.paths",
        "when.languages",
        "limits.memory",
        "bogus",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "A"]), TOML_KEYS, TOML_ATOMS), max_size=8))
def test_arbitrary_stage_tables_parse_or_fail_cleanly(entries: list[tuple[str, str, str]]) -> None:
    text = "".join(f"[stages.{name}]\n{key} = {value}\n" for name, key, value in entries)
    try:
        parse_pipeline(text)
    except PipelineConfigError as error:
        assert str(error).startswith("trellis.toml: ")


# -- canonical form -------------------------------------------------------------------------------


def test_format_round_trips_the_example() -> None:
    pipeline = parse_pipeline(EXAMPLE)
    text = format_pipeline(pipeline)
    again = parse_pipeline(text)
    assert (again.stages, again.protections) == (pipeline.stages, pipeline.protections)
    assert format_pipeline(again) == text
    assert 'run = "ruff check {paths}"' in text and 'timeout = "1d"' in text


NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
GLOBS = st.sampled_from(["**/*.py", "src/**", "*.md", "docs/", "/setup.py", "a b/[!x]?.c", 'q"uote\\*'])


@st.composite
def stages(draw: st.DrawFn) -> list[Stage]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    out: list[Stage] = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["command", "syntax", "pytest", "external"]))
        scope = draw(st.sampled_from(["commit", "file"] if kind == "syntax" else ["commit", "file", "entity"]))
        run = ""
        if kind == "command":
            fields = draw(st.lists(st.sampled_from(SCOPE_PLACEHOLDERS[scope]), max_size=3))
            literal = draw(TEXT).replace("{", "{{").replace("}", "}}")
            run = "cmd " + literal + " " + " ".join(f"{{{f}}}" for f in fields)
        external = kind == "external"
        timeout = draw(
            st.one_of(st.sampled_from([0.5, 1.0, 30.0, 90.0, 3600.0]), st.floats(min_value=0.001, max_value=3600))
        )
        limits = StageLimits(
            timeout_s=timeout,
            cpu_s=draw(st.sampled_from([timeout, 120.0])),
            memory_bytes=draw(st.sampled_from([2 * 1024**3, 1000, 1536 * 1024])),
            processes=draw(st.integers(1, 4096)),
            output_bytes=draw(st.integers(1, 64 * 1024**2)),
        )
        if external:
            limits = dataclasses.replace(StageLimits(), timeout_s=timeout, cpu_s=timeout)
        env = (
            ()
            if kind in ("syntax", "external")
            else tuple(
                sorted(
                    draw(
                        st.dictionaries(st.from_regex(r"[A-SU-Z_][A-Z0-9_]{0,5}", fullmatch=True), TEXT, max_size=2)
                    ).items()
                )
            )
        )
        selectors = Selectors(
            paths=tuple(draw(st.lists(GLOBS, max_size=2, unique=True))),
            exclude=tuple(draw(st.lists(GLOBS, max_size=1))),
            languages=tuple(draw(st.lists(st.sampled_from(semantic_diff.languages()), max_size=2, unique=True))),
            entities=tuple(draw(st.lists(st.sampled_from(ENTITY_KINDS), max_size=2, unique=True))),
            changes=tuple(draw(st.lists(st.sampled_from(CHANGE_CLASSES), max_size=2, unique=True))),
        )
        needs = tuple(draw(st.lists(st.sampled_from(names[:i]), unique=True))) if i else ()
        out.append(
            Stage(
                name=name,
                kind=kind,
                scope=scope,
                run=run,
                select=draw(st.sampled_from(["affected", "all"])) if kind == "pytest" else "",
                args=tuple(draw(st.lists(TEXT, max_size=2))) if kind == "pytest" else (),
                needs=needs,
                env=env,
                cache=False if external else draw(st.booleans()),
                limits=limits,
                selectors=selectors,
                pytest=PytestOptions(
                    fail_fast=draw(st.booleans()),
                    load_tests=draw(st.booleans()),
                    shards=draw(st.integers(0, 8)),
                    test_timeout_s=draw(st.sampled_from([0.0, 30.0, 2.5])),
                    test_timeout_factor=draw(st.sampled_from([10.0, 3.5])),
                    test_timeout_floor_s=draw(st.sampled_from([5.0, 0.25])),
                    requirements=tuple(draw(st.lists(st.sampled_from(["req.txt", "ci/r t.txt"]), unique=True))),
                    extras=tuple(draw(st.lists(st.sampled_from(["tests", "dev"]), unique=True))),
                    groups=tuple(draw(st.lists(st.sampled_from(["test"]), unique=True))),
                    packages=tuple(
                        draw(st.lists(st.sampled_from(["hypothesis>=6", 'x; python_version>"3"']), unique=True))
                    ),
                    tool_caches=draw(st.sampled_from([DEFAULT_TOOL_CACHES, (), (".hypothesis", "build/.cache d")])),
                )
                if kind == "pytest"
                else PytestOptions(),
            )
        )
    return out


@settings(max_examples=100, deadline=None)
@given(stages(), st.lists(st.sampled_from(["main", "release/*", "a b", "**"]), unique=True, max_size=2), st.data())
def test_format_then_parse_is_the_identity(declared: list[Stage], branches: list[str], data: st.DataObject) -> None:
    names = [s.name for s in declared]
    protections = tuple(
        Protection(b, tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))) for b in branches
    )
    pipeline = Pipeline(stages=tuple(declared), protections=protections)
    parsed = parse_pipeline(format_pipeline(pipeline))
    assert parsed.stages == pipeline.stages
    assert parsed.protections == pipeline.protections


# -- pipeline methods -----------------------------------------------------------------------------

CHAIN = """
[stages.syntax]
kind = "syntax"
[stages.lint]
run = "lint"
needs = ["syntax"]
[stages.types]
run = "types"
needs = ["syntax"]
[stages.unit]
kind = "pytest"
needs = ["lint"]
[stages.docs]
run = "docs"
[protect.main]
required = ["unit", "syntax"]
[protect."release/*"]
required = ["docs"]
[protect."**"]
required = ["syntax"]
"""


def test_closure_is_the_stages_and_their_needs_in_order() -> None:
    pipeline = parse_pipeline(CHAIN)
    assert [s.name for s in pipeline.closure(["unit"])] == ["syntax", "lint", "unit"]
    assert [s.name for s in pipeline.closure(["docs", "types"])] == ["syntax", "types", "docs"]
    assert [s.name for s in pipeline.closure("lint")] == ["syntax", "lint"]
    assert pipeline.closure([]) == ()


def test_unknown_stage_names() -> None:
    pipeline = parse_pipeline(CHAIN)
    with pytest.raises(UnknownStage) as info:
        pipeline.closure(["unit", "lnt"])
    assert str(info.value) == 'unknown stage "lnt", did you mean "lint"? (stages: syntax, lint, types, unit, docs)'
    assert info.value.reason == "UNKNOWN_STAGE" and info.value.metadata == {"stage": "lnt"}
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownStage, match='^unknown stage "x": the pipeline has no stages$'):
        Pipeline().stage("x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)
    assert pipeline.stage("docs").run == "docs"


def test_required_for_unions_matching_protections_in_pipeline_order() -> None:
    pipeline = parse_pipeline(CHAIN)
    assert pipeline.required_for("main") == ("syntax", "unit")
    assert pipeline.required_for("release/1.0") == ("syntax", "docs")
    assert pipeline.required_for("release/1.0/hotfix") == ("syntax",)
    assert Pipeline().required_for("main") == ()
    assert parse_pipeline('[stages.a]\nrun = "x"\n[protect.main]\nrequired = ["a"]\n').required_for("mainline") == ()


def test_pipeline_values_are_hashable() -> None:
    pipeline = parse_pipeline(EXAMPLE)
    assert hash(pipeline) == hash(parse_pipeline(EXAMPLE))
    assert len({*pipeline.stages}) == 4
    assert pickle.loads(pickle.dumps(pipeline)) == pipeline  # values cross process boundaries (Ray)


# -- definition hash ------------------------------------------------------------------------------

BASE = Stage(
    name="lint",
    kind="command",
    scope="file",
    run="ruff check {path}",
    needs=("syntax",),
    env=(("A", "1"),),
    selectors=Selectors(paths=("**/*.py",)),
)


def test_definition_hash_is_stable() -> None:
    assert BASE.definition_hash() == dataclasses.replace(BASE).definition_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", BASE.definition_hash())
    # Pinned: a change here invalidates every cached result, so it must be deliberate.
    assert BASE.definition_hash() == "ae97d5db0f38898362a2020ef0a7130b3cc47310eca4c5be4359e60489d69ab4"
    parsed = parse_pipeline(
        '[stages.lint]\nrun = "ruff check {path}"\nscope = "file"\nneeds = ["syntax"]\n'
        'env = {A = "1"}\nwhen.paths = ["**/*.py"]\n[stages.syntax]\nkind = "syntax"\n'
    )
    assert parsed.stage("lint").definition_hash() == BASE.definition_hash()


VARIANTS: dict[str, Any] = {
    "name": "lint2",
    "kind": "pytest",
    "scope": "entity",
    "run": "ruff check -q {path}",
    "select": "all",
    "args": ("-x",),
    "inert": ("docs/**",),
    "always_full": ("data/**",),
    "needs": ("syntax", "x"),
    "env": (("A", "2"),),
    "cache": False,
    "limits": StageLimits(timeout_s=61),
    "selectors": Selectors(paths=("**/*.pyi",)),
    "pytest": PytestOptions(fail_fast=True),
}
LIMIT_VARIANTS: dict[str, Any] = {"timeout_s": 1.0, "cpu_s": 1.0, "memory_bytes": 1, "processes": 1, "output_bytes": 1}
SELECTOR_VARIANTS: dict[str, Any] = {
    "paths": ("x",),
    "exclude": ("x",),
    "languages": ("go",),
    "entities": ("class",),
    "changes": ("moved",),
}


def test_definition_hash_covers_every_field() -> None:
    assert set(VARIANTS) == {f.name for f in dataclasses.fields(Stage)}
    assert set(LIMIT_VARIANTS) == {f.name for f in dataclasses.fields(StageLimits)}
    assert set(SELECTOR_VARIANTS) == {f.name for f in dataclasses.fields(Selectors)}
    hashes = {BASE.definition_hash()}
    for name, value in VARIANTS.items():
        hashes.add(dataclasses.replace(BASE, **{name: value}).definition_hash())
    for name, value in LIMIT_VARIANTS.items():
        hashes.add(
            dataclasses.replace(BASE, limits=dataclasses.replace(BASE.limits, **{name: value})).definition_hash()
        )
    for name, value in SELECTOR_VARIANTS.items():
        hashes.add(
            dataclasses.replace(BASE, selectors=dataclasses.replace(BASE.selectors, **{name: value})).definition_hash()
        )
    assert len(hashes) == 1 + len(VARIANTS) + len(LIMIT_VARIANTS) + len(SELECTOR_VARIANTS)


# -- vocabulary ------------------------------------------------------------------------------------


def test_entity_kinds_cover_every_kind_semantic_diff_reports() -> None:
    reported = {spec.root_kind for spec in LANGUAGES}
    for spec in LANGUAGES:
        for rule in spec.rules.values():
            reported.add(rule.kind)
            reported.update(rule.nested.values())
    assert reported <= set(ENTITY_KINDS), reported - set(ENTITY_KINDS)
    assert "module" in reported and "document" in reported


def test_entity_kinds_match_a_real_extraction() -> None:
    parsed = semantic_diff.extract_entities(
        "app/m.py", b"class A:\n    def f(self):\n        pass\n\ndef g():\n    pass\n"
    )
    assert {e.kind for e in parsed.entities} <= set(ENTITY_KINDS)


# -- globs -----------------------------------------------------------------------------------------

GLOB_CASES = [
    # (pattern, path, matches)
    ("**/*.py", "a.py", True),
    ("**/*.py", "src/a/b.py", True),
    ("**/*.py", "src/a/b.pyi", False),
    ("*.py", "a.py", True),
    ("*.py", "deep/er/a.py", True),
    ("*.py", "a.py.txt", False),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/x/a.py", False),
    ("src/*.py", "lib/src/a.py", False),
    ("src/**", "src/a.py", True),
    ("src/**", "src/x/y/a.py", True),
    ("src/**", "src", False),
    ("src/**", "srcx/a.py", False),
    ("src/**/api.py", "src/api.py", True),
    ("src/**/api.py", "src/a/b/api.py", True),
    ("src/**/api.py", "src/a/b/xapi.py", False),
    ("**", "anything/at/all", True),
    ("**/test_*.py", "tests/test_x.py", True),
    ("**/test_*.py", "tests/x_test.py", False),
    ("src/payments", "src/payments/api.py", True),
    ("src/payments", "src/payments", True),
    ("src/payments", "src/paymentsx/a.py", False),
    ("payments", "src/payments/a.py", True),
    ("docs/", "docs/index.md", True),
    ("docs/", "docs", False),
    ("docs/", "a/docs/x.md", True),
    ("/setup.py", "setup.py", True),
    ("/setup.py", "pkg/setup.py", False),
    ("a?.c", "ab.c", True),
    ("a?.c", "a/.c", False),
    ("a?.c", "abc.c", False),
    ("[ab].c", "a.c", True),
    ("[ab].c", "c.c", False),
    ("[!ab].c", "c.c", True),
    ("[!ab].c", "a.c", False),
    ("x[+-0]y", "x/y", False),
    ("x[+-0]y", "x-y", True),
    ("[]].c", "].c", True),
    ("a**b", "aXXb", True),
    ("a**b", "a/b", False),
    (r"\*.py", "*.py", True),
    (r"\*.py", "x.py", False),
    ("my dir/*.py", "my dir/it's.py", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), GLOB_CASES)
def test_path_globs(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected


def test_branch_globs() -> None:
    assert branch_matches("main", "main") and not branch_matches("main", "main2")
    assert branch_matches("release/*", "release/1.0")
    assert not branch_matches("release/*", "release/1.0/hotfix") and not branch_matches("release/*", "release")
    assert branch_matches("release/**", "release/1.0/hotfix")
    assert branch_matches("agents/**/wip", "agents/wip") and branch_matches("agents/**/wip", "agents/a/b/wip")
    assert not branch_matches("main", "x/main")


@pytest.mark.parametrize("pattern", ["", "!x", "a//b", "a/../b", "./a", "[a", "a\\", "/", "a\0"])
def test_malformed_globs(pattern: str) -> None:
    with pytest.raises(GlobError):
        check_glob(pattern)


SEGMENTS = st.from_regex(r"[a-z_.][a-z0-9_.-]{0,5}", fullmatch=True).filter(lambda s: s not in (".", ".."))
PATHS = st.lists(SEGMENTS, min_size=1, max_size=5).map("/".join)


@given(PATHS)
def test_double_star_globs_match_at_any_depth(path: str) -> None:
    name = path.rsplit("/", 1)[-1]
    escaped = re.sub(r"([*?\[\\])", r"\\\1", path)
    assert path_matches("**", path)
    assert path_matches(escaped, path) and path_matches("/" + escaped, path)
    assert path_matches("**/" + re.sub(r"([*?\[\\])", r"\\\1", name), path)
    assert path_matches("*" + name[-1], path)
    assert path_matches("**/*", path)
    if "/" in path:
        top, rest = path.split("/", 1)
        assert path_matches(top, path) and path_matches(top + "/**", path) and path_matches(top + "/", path)
        assert not path_matches(top + "/**", top)
        assert path_matches(f"{top}/**/{name}", path)


# -- durations, sizes, placeholders ----------------------------------------------------------------


def test_durations_and_sizes() -> None:
    assert [parse_duration(t) for t in ("30s", "500ms", "2m", "1h30m", "1d", "1.5s", " 1m30s ")] == [
        30,
        0.5,
        120,
        5400,
        86400,
        1.5,
        90,
    ]
    for bad in ("", "30", "s", "-1s", "0s", "1 s", "1x", "soon"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [parse_size(t) for t in ("1", "1B", "1KB", "1KiB", "1.5MiB", "2gib", "1 MB")] == [
        1,
        1,
        1000,
        1024,
        1572864,
        2 * 1024**3,
        10**6,
    ]
    for bad in ("", "0", "1XB", "-1", "MiB", "0.1B"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert [format_duration(s) for s in (30, 60, 90, 3600, 86400, 0.5, 1 / 3)] == [
        "30s",
        "1m",
        "90s",
        "1h",
        "1d",
        "500ms",
        1 / 3,
    ]
    assert [format_size(n) for n in (1024, 1536 * 1024, 1000, 2 * 1024**3)] == ["1KiB", "1536KiB", 1000, "2GiB"]


@given(
    st.one_of(
        st.integers(1, 10**7).map(float),
        st.integers(1, 10**7).map(lambda n: n / 1000),
        st.floats(min_value=1e-6, max_value=1e6),
    )
)
def test_formatted_durations_parse_back_exactly(seconds: float) -> None:
    text = format_duration(seconds)
    assert (parse_duration(text) if isinstance(text, str) else text) == seconds


@given(st.integers(1, 2**50))
def test_formatted_sizes_parse_back_exactly(size: int) -> None:
    text = format_size(size)
    assert (parse_size(text) if isinstance(text, str) else text) == size


def test_placeholders() -> None:
    assert set(PLACEHOLDERS) == set(SCOPE_PLACEHOLDERS["entity"])
    assert set(SCOPE_PLACEHOLDERS["commit"]) < set(SCOPE_PLACEHOLDERS["file"]) < set(SCOPE_PLACEHOLDERS["entity"])
    check_template("awk '{{print $1}}' {path}", "file")
    assert (
        render_template("awk '{{print $1}}' {paths} {stage}", {"paths": ("a b.py", "c.py"), "stage": "s"})
        == "awk '{print $1}' 'a b.py' c.py s"
    )
    assert render_template("x {paths}", {"paths": ()}) == "x "
    assert render_template("x {path}", {"path": ""}) == "x ''"
    with pytest.raises(TemplateError, match=r"no value for \{qualname\}"):
        render_template("{qualname}", {})


# -- the reference page stays true -----------------------------------------------------------------

DOC = (ROOT / "docs" / "pipelines.md").read_text()


STUB_STAGES = '[stages.syntax]\nkind = "syntax"\n[stages.unit]\nkind = "pytest"\n[stages.review]\nkind = "external"\n'


@pytest.mark.parametrize("block", re.findall(r"```toml\n(.*?)```", DOC, re.DOTALL))
def test_every_toml_example_in_the_docs_parses(block: str) -> None:
    if "[stages." not in block:  # a protections-only example names the stages of the first one
        block = STUB_STAGES + block
    assert parse_pipeline(block).stages


@pytest.mark.parametrize(
    "text",
    [
        '[stages.unit]\nkind = "pytest"\ntimeout = "soon"\n',
        '[stages.syntax]\nkind = "syntax"\n[stages.lint]\nrun = "x"\nneeds = ["syntx"]\n',
        '[stages.a]\nrun = "x"\nneeds = ["b"]\n[stages.b]\nrun = "x"\nneeds = ["a"]\n',
        '[stages.lint]\nrun = "x {qualname}"\nscope = "file"\n',
        '[stages.review]\nkind = "external"\nrun = "x"\n',
        '[stages.a]\nrun = "x"\nbroken line\n',
    ],
)
def test_the_error_examples_in_the_docs_are_real(text: str) -> None:
    assert str(rejects(text)) in DOC.splitlines()


def test_pytest_stages_take_inert_and_always_full_globs() -> None:
    text = '[stages.tests]\nkind = "pytest"\ninert = ["data/static/**", "*.svg"]\nalways_full = ["fixtures/**"]\n'
    stage = parse_pipeline(text).stage("tests")
    assert stage.inert == ("data/static/**", "*.svg") and stage.always_full == ("fixtures/**",)
    assert parse_pipeline(format_pipeline(parse_pipeline(text))).stage("tests") == stage
    with pytest.raises(PipelineConfigError, match='only pytest stages take "inert"'):
        parse_pipeline('[stages.a]\nrun = "x"\ninert = ["docs/**"]\n')
    with pytest.raises(PipelineConfigError, match=r"stages\.tests\.always_full\[0\]"):
        parse_pipeline('[stages.tests]\nkind = "pytest"\nalways_full = ["[a"]\n')


# -- pytest options -------------------------------------------------------------------------------


def test_pytest_stages_take_run_options_and_an_environment() -> None:
    stage = parse_pipeline(
        '[stages.unit]\nkind = "pytest"\nfail_fast = true\nshards = 3\ntest_timeout = "20s"\n'
        'test_timeout_factor = 4\ntest_timeout_floor = "2s"\nload_tests = true\n'
        'environment = { requirements = ["requirements-test.txt"], extras = ["tests"], groups = ["dev"], '
        'packages = ["hypothesis"] }\n'
    ).stage("unit")
    assert stage.pytest == PytestOptions(
        fail_fast=True,
        shards=3,
        test_timeout_s=20.0,
        test_timeout_factor=4.0,
        test_timeout_floor_s=2.0,
        requirements=("requirements-test.txt",),
        extras=("tests",),
        groups=("dev",),
        packages=("hypothesis",),
        load_tests=True,
    )
    default = parse_pipeline('[stages.unit]\nkind = "pytest"\n').stage("unit")
    assert default.pytest == PytestOptions() and default.timeout_s == 600  # a backstop that fits real suites
    assert default.pytest.tool_caches == DEFAULT_TOOL_CACHES == (".hypothesis/unicode_data", ".hypothesis/constants")


def test_tool_caches_are_a_stage_option_that_keeps_the_definition_of_stages_without_it() -> None:
    chosen = parse_pipeline('[stages.unit]\nkind = "pytest"\ntool_caches = [".hypothesis", "a b/c"]\n')
    assert chosen.stage("unit").pytest.tool_caches == (".hypothesis", "a b/c")
    assert parse_pipeline(format_pipeline(chosen)).stages == chosen.stages
    none = parse_pipeline('[stages.unit]\nkind = "pytest"\ntool_caches = []\n').stage("unit")
    assert none.pytest.tool_caches == () and none.pytest.to_json()["tool_caches"] == []
    # The default adds nothing to a stage's definition: stages written before the option keep their hash.
    assert "tool_caches" not in PytestOptions().to_json()
    assert (
        parse_pipeline('[stages.unit]\nkind = "pytest"\ntest_timeout = "off"\nshards = "auto"\n')
        .stage("unit")
        .pytest.test_timeout_s
        == 0
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[stages.a]\nrun = "x"\nfail_fast = true\n', 'stages.a.fail_fast: only pytest stages take "fail_fast"'),
        ('[stages.a]\nrun = "x"\nload_tests = true\n', 'stages.a.load_tests: only pytest stages take "load_tests"'),
        (
            '[stages.a]\nkind = "pytest"\nload_tests = "unittest"\n',
            "stages.a.load_tests: expected true or false, got a string",
        ),
        (
            '[stages.a]\nkind = "pytest"\nshards = 0\n',
            'stages.a.shards: expected "auto" or an integer from 1 to 256, got 0',
        ),
        (
            '[stages.a]\nkind = "pytest"\nenvironment.requirements = ["../x.txt"]\n',
            'stages.a.environment.requirements[0]: "../x.txt": a path inside the tree, like "requirements-test.txt"',
        ),
        (
            '[stages.a]\nkind = "pytest"\nenvironment.extra = ["x"]\n',
            'stages.a.environment.extra: unknown key, did you mean "extras"?',
        ),
        (
            '[stages.a]\nkind = "pytest"\ntest_timeout_factor = 0.5\n',
            "stages.a.test_timeout_factor: expected a number from 1 to 1000, got 0.5",
        ),
        (
            '[stages.a]\nrun = "x"\ntool_caches = [".cache"]\n',
            'stages.a.tool_caches: only pytest stages take "tool_caches"',
        ),
        (
            '[stages.a]\nkind = "pytest"\ntool_caches = ".cache"\n',
            'stages.a.tool_caches: expected an array of strings, got a string (write [".cache"])',
        ),
        *(
            (
                f'[stages.a]\nkind = "pytest"\ntool_caches = [".cache", {path}]\n',
                f"stages.a.tool_caches[1]: {shown}: a directory inside the tree, "
                'like ".hypothesis/unicode_data" (relative, no . or .. parts, not under .git)',
            )
            for path, shown in [
                ('"../up"', '"../up"'),
                ('"/abs"', '"/abs"'),
                ('"a//b"', '"a//b"'),
                ('"a/./b"', '"a/./b"'),
                ('"dir/"', '"dir/"'),
                ('".git/x"', '".git/x"'),
                ('""', '""'),
            ]
        ),
        (
            '[stages.a]\nkind = "pytest"\ntool_caches = [' + ", ".join(f'"c{i}"' for i in range(17)) + "]\n",
            "stages.a.tool_caches: at most 16 directories, got 17",
        ),
    ],
)
def test_pytest_options_are_checked(text: str, message: str) -> None:
    with pytest.raises(PipelineConfigError) as caught:
        parse_pipeline(text)
    assert message in str(caught.value)
