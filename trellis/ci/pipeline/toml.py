"""``trellis.toml``: parse a pipeline definition (and write one back in canonical form).

The format is documented in ``docs/pipelines.md``. :func:`parse_pipeline` is
the only entry point that accepts user text: every problem becomes a
:class:`~trellis.ci.pipeline.model.PipelineConfigError` naming the file, the field and the
reason; nothing else escapes. :func:`format_pipeline` writes the canonical
TOML of a pipeline (every default explicit), which parses back to the same
stages and protections.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, NoReturn

from trellis.semantic_diff import languages as _semantic_languages

from .globs import GlobError, check_branch_glob, check_glob
from .model import (
    CHANGE_CLASSES,
    DEFAULT_TOOL_CACHES,
    ENTITY_KINDS,
    KINDS,
    SCOPES,
    SELECTS,
    Pipeline,
    PipelineConfigError,
    Protection,
    PytestOptions,
    Selectors,
    Stage,
    StageLimits,
    closest,
)
from .placeholders import TemplateError, check_template
from .units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "DEFAULT_OUTPUT_BYTES",
    "DEFAULT_PYTEST_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "EXTERNAL_TIMEOUT_S",
    "MAX_CONFIG_BYTES",
    "MAX_CPU_S",
    "MAX_EXTERNAL_TIMEOUT_S",
    "MAX_MEMORY_BYTES",
    "MAX_OUTPUT_BYTES",
    "MAX_PROCESSES",
    "MAX_STAGES",
    "MAX_TIMEOUT_S",
    "format_pipeline",
    "parse_pipeline",
]

MAX_CONFIG_BYTES = 64 * 1024
MAX_STAGES = 64
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_PYTEST_TIMEOUT_S = 600.0  # a backstop: per-test timeouts stop a hanging test long before it
MAX_SHARDS = 256
MAX_TOOL_CACHES = 16
EXTERNAL_TIMEOUT_S = 24 * 3600.0
MAX_TIMEOUT_S = 24 * 3600.0
MAX_EXTERNAL_TIMEOUT_S = 7 * 24 * 3600.0
MAX_CPU_S = 24 * 3600.0
DEFAULT_MEMORY_BYTES = 2 * 1024**3
MAX_MEMORY_BYTES = 64 * 1024**3
DEFAULT_PROCESSES = 128
MAX_PROCESSES = 4096
DEFAULT_OUTPUT_BYTES = 4 * 1024**2
MAX_OUTPUT_BYTES = 64 * 1024**2

STAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

TOP_LEVEL_KEYS = ("stages", "protect")
STAGE_KEYS: tuple[str, ...] = (
    "kind",
    "scope",
    "run",
    "select",
    "args",
    "inert",
    "always_full",
    "needs",
    "timeout",
    "env",
    "cache",
    "limits",
    "when",
)
_PYTEST_ONLY = ("select", "args", "inert", "always_full")
PYTEST_KEYS = (
    "fail_fast",
    "shards",
    "test_timeout",
    "test_timeout_factor",
    "test_timeout_floor",
    "environment",
    "load_tests",
    "tool_caches",
)
STAGE_KEYS = (*STAGE_KEYS, *PYTEST_KEYS)
ENVIRONMENT_KEYS = ("requirements", "extras", "groups", "packages")
WHEN_KEYS = ("paths", "exclude", "languages", "entities", "changes")
LIMIT_KEYS = ("memory", "cpu", "processes", "output")
PROTECT_KEYS = ("required",)

# The keys each kind of stage takes, and why the others do not apply.
KIND_KEYS: Mapping[str, frozenset[str]] = {
    "command": frozenset(STAGE_KEYS) - {*_PYTEST_ONLY, *PYTEST_KEYS},
    "syntax": frozenset(STAGE_KEYS) - {"run", "env", *_PYTEST_ONLY, *PYTEST_KEYS},
    "pytest": frozenset(STAGE_KEYS) - {"run"},
    "external": frozenset({"kind", "scope", "needs", "timeout", "when"}),
}
_NOT_FOR_KIND: Mapping[tuple[str, str], str] = {
    ("command", "select"): 'only pytest stages take "select"',
    ("command", "args"): 'only pytest stages take "args"; put arguments in "run"',
    ("syntax", "run"): "syntax stages are built in and run no command",
    ("syntax", "select"): 'only pytest stages take "select"',
    ("syntax", "args"): 'only pytest stages take "args"',
    ("command", "inert"): 'only pytest stages take "inert" (it tells test selection which files no test reads)',
    ("syntax", "inert"): 'only pytest stages take "inert" (it tells test selection which files no test reads)',
    ("command", "always_full"): 'only pytest stages take "always_full" (it makes test selection run every test)',
    ("syntax", "always_full"): 'only pytest stages take "always_full" (it makes test selection run every test)',
    ("syntax", "env"): "syntax stages are built in and run no command, so env does not apply",
    ("pytest", "run"): 'pytest stages run pytest themselves; put extra arguments in "args"',
    **{(kind, key): f'only pytest stages take "{key}"' for kind in ("command", "syntax") for key in PYTEST_KEYS},
}
_EXTERNAL_NOT = "external stages run nothing (a reviewer posts the verdict), so {key} does not apply"
_DEFAULT_SCOPE = {"command": "commit", "syntax": "file", "pytest": "commit", "external": "commit"}
_SYNTAX_SCOPES = ("commit", "file")


def parse_pipeline(text: str | bytes, *, source: str = "trellis.toml") -> Pipeline:
    """Parse and validate a ``trellis.toml``; raise :class:`PipelineConfigError` on any problem."""
    decoded = _decode(text, source)
    try:
        data = tomllib.loads(decoded)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(source, exc, decoded) from None
    return _Parser(source).pipeline(data, decoded)


def format_pipeline(pipeline: Pipeline) -> str:
    """The canonical ``trellis.toml`` of ``pipeline``: stages in pipeline order, defaults explicit."""
    out: list[str] = []
    for stage in pipeline.stages:
        out.append(f"[stages.{_key(stage.name)}]")
        out.append(f"kind = {_toml(stage.kind)}")
        out.append(f"scope = {_toml(stage.scope)}")
        if stage.kind == "command":
            out.append(f"run = {_toml(stage.run)}")
        if stage.kind == "pytest":
            out.append(f"select = {_toml(stage.select)}")
            if stage.args:
                out.append(f"args = {_toml(list(stage.args))}")
            if stage.inert:
                out.append(f"inert = {_toml(list(stage.inert))}")
            if stage.always_full:
                out.append(f"always_full = {_toml(list(stage.always_full))}")
            options = stage.pytest
            out.append(f"fail_fast = {_toml(options.fail_fast)}")
            out.append(f"shards = {_toml(options.shards or 'auto')}")
            out.append(
                "test_timeout = " + _toml(format_duration(options.test_timeout_s) if options.test_timeout_s else "off")
            )
            out.append(f"test_timeout_factor = {_toml(options.test_timeout_factor)}")
            out.append(f"test_timeout_floor = {_toml(format_duration(options.test_timeout_floor_s))}")
            if options.load_tests:
                out.append("load_tests = true")
            if options.tool_caches != DEFAULT_TOOL_CACHES:
                out.append(f"tool_caches = {_toml(list(options.tool_caches))}")
            if options.has_environment:
                parts = ", ".join(f"{k} = {_toml(list(getattr(options, k)))}" for k in ENVIRONMENT_KEYS)
                out.append(f"environment = {{ {parts} }}")
        if stage.needs:
            out.append(f"needs = {_toml(list(stage.needs))}")
        out.append(f"timeout = {_toml(format_duration(stage.timeout_s))}")
        if stage.kind != "external":
            if stage.env and stage.kind != "syntax":
                pairs = ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in stage.env)
                out.append(f"env = {{ {pairs} }}")
            out.append(f"cache = {_toml(stage.cache)}")
            limits = stage.limits
            out.append(
                f"limits = {{ cpu = {_toml(format_duration(limits.cpu_s))}, "
                f"memory = {_toml(format_size(limits.memory_bytes))}, processes = {limits.processes}, "
                f"output = {_toml(format_size(limits.output_bytes))} }}"
            )
        for key, values in stage.selectors.to_json().items():
            if values:
                out.append(f"when.{key} = {_toml(values)}")
        out.append("")
    for protection in pipeline.protections:
        out.append(f"[protect.{_key(protection.branch)}]")
        out.append(f"required = {_toml(list(protection.required))}")
        out.append("")
    return "\n".join(out)


# -- decoding -------------------------------------------------------------------------------------


def _decode(text: str | bytes, source: str) -> str:
    if isinstance(text, str):
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise PipelineConfigError(
                source, "", f"the text is not valid Unicode (a lone surrogate at character {exc.start + 1})"
            ) from None
        _check_size(source, size)
        decoded = text
    elif isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        _check_size(source, len(raw))
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise PipelineConfigError(
                source, "", f"invalid UTF-8 at byte {exc.start + 1}", line=line, column=column
            ) from None
    else:
        raise PipelineConfigError(source, "", f"expected the text of a TOML file, got {_type(text)}")
    return decoded.removeprefix("\ufeff")


def _check_size(source: str, size: int) -> None:
    if size > MAX_CONFIG_BYTES:
        raise PipelineConfigError(
            source, "", f"the file is {size} bytes; the limit is {MAX_CONFIG_BYTES} ({MAX_CONFIG_BYTES // 1024} KiB)"
        )


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _toml_error(source: str, exc: tomllib.TOMLDecodeError, text: str) -> PipelineConfigError:
    message = str(exc)
    line = column = 0
    match = _TOML_POSITION.search(message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    elif message.endswith("(at end of document)"):
        message = message.removesuffix("(at end of document)").rstrip() + " at the end of the file"
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    message = message[:1].lower() + message[1:]
    return PipelineConfigError(source, "", f"invalid TOML: {message}", line=line, column=column)


# -- validation -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.languages = _semantic_languages()

    def fail(self, field: str, detail: str) -> NoReturn:
        raise PipelineConfigError(self.source, field, detail)

    # The whole file.

    def pipeline(self, data: dict[str, Any], text: str) -> Pipeline:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                what = "top-level table" if isinstance(data[key], dict) else "top-level key"
                self.fail(_key(key), _unknown(what, key, TOP_LEVEL_KEYS))
        raw_stages = self.table(data.get("stages", {}), "stages")
        if len(raw_stages) > MAX_STAGES:
            self.fail("stages", f"{len(raw_stages)} stages; the limit is {MAX_STAGES}")
        declared = [self.stage(name, raw) for name, raw in raw_stages.items()]
        names = [s.name for s in declared]
        for stage in declared:
            for i, need in enumerate(stage.needs):
                if need not in names:
                    self.fail(f"stages.{stage.name}.needs[{i}]", _unknown_stage(need, names))
        ordered = self.order(declared)
        protections = tuple(
            self.protection(branch, raw, names)
            for branch, raw in self.table(data.get("protect", {}), "protect").items()
        )
        return Pipeline(stages=ordered, protections=protections, source=self.source, text=text)

    def order(self, stages: list[Stage]) -> tuple[Stage, ...]:
        """Topological order, ties broken by declaration order; a cycle is reported by name."""
        by_name = {s.name: s for s in stages}
        self.check_cycles(stages, by_name)
        placed: list[Stage] = []
        done: set[str] = set()
        while len(placed) < len(stages):
            ready = next(s for s in stages if s.name not in done and all(n in done for n in s.needs))
            placed.append(ready)
            done.add(ready.name)
        return tuple(placed)

    def check_cycles(self, stages: list[Stage], by_name: dict[str, Stage]) -> None:
        state: dict[str, int] = {}  # 1 on the path, 2 finished
        path: list[str] = []
        position = {s.name: i for i, s in enumerate(stages)}

        def visit(name: str) -> None:
            state[name] = 1
            path.append(name)
            for need in by_name[name].needs:
                if state.get(need) == 1:
                    cycle = path[path.index(need) :]
                    start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                    cycle = cycle[start:] + cycle[:start]
                    self.fail(f"stages.{cycle[0]}.needs", "a cycle in needs: " + " -> ".join([*cycle, cycle[0]]))
                if need not in state:
                    visit(need)
            path.pop()
            state[name] = 2

        for stage in stages:
            if stage.name not in state:
                visit(stage.name)

    # One stage.

    def stage(self, name: str, raw: Any) -> Stage:
        base = f"stages.{_key(name)}"
        if not STAGE_NAME.fullmatch(name):
            self.fail(
                base, 'a stage name is 1 to 63 characters of a-z, 0-9, "_" and "-", starting with a letter or a digit'
            )
        table = self.table(raw, base)
        for key in table:
            if key not in STAGE_KEYS:
                self.fail(f"{base}.{_key(key)}", _unknown("key", key, STAGE_KEYS))
        if "kind" in table:
            kind = self.choice(table["kind"], f"{base}.kind", KINDS, "kind")
        elif "run" in table:
            kind = "command"
        else:
            self.fail(
                f"{base}.run",
                'missing: a stage needs "run" (a shell command) or a "kind" ("syntax", "pytest" or "external")',
            )
        for key in table:
            if key not in KIND_KEYS[kind]:
                reason = _NOT_FOR_KIND.get((kind, key)) or _EXTERNAL_NOT.format(key=key)
                self.fail(f"{base}.{key}", reason)
        scope = _DEFAULT_SCOPE[kind]
        if "scope" in table:
            scope = self.choice(table["scope"], f"{base}.scope", SCOPES, "scope")
            if kind == "syntax" and scope not in _SYNTAX_SCOPES:
                self.fail(f"{base}.scope", 'syntax stages check whole files: scope must be "file" or "commit"')
        run = ""
        if kind == "command":
            if "run" not in table:
                self.fail(f"{base}.run", "missing: a command stage needs the shell command to run")
            run = self.string(table["run"], f"{base}.run")
            if not run.strip():
                self.fail(f"{base}.run", "the command is empty")
            try:
                check_template(run, scope)
            except TemplateError as exc:
                self.fail(f"{base}.run", str(exc))
        select = ""
        args: tuple[str, ...] = ()
        inert: tuple[str, ...] = ()
        always_full: tuple[str, ...] = ()
        if kind == "pytest":
            select = self.choice(table.get("select", "affected"), f"{base}.select", SELECTS, "select")
            if "args" in table:
                args = tuple(self.strings(table["args"], f"{base}.args", allow_empty=True, dedupe=False))
            inert = self.globs(table.get("inert", []), f"{base}.inert")
            always_full = self.globs(table.get("always_full", []), f"{base}.always_full")
        needs = tuple(self.strings(table.get("needs", []), f"{base}.needs", allow_empty=True))
        for i, need in enumerate(needs):
            if need == name:
                self.fail(f"{base}.needs[{i}]", f'a stage cannot need itself ("{name}")')
        external = kind == "external"
        timeout = (
            EXTERNAL_TIMEOUT_S if external else DEFAULT_PYTEST_TIMEOUT_S if kind == "pytest" else DEFAULT_TIMEOUT_S
        )
        if "timeout" in table:
            cap = MAX_EXTERNAL_TIMEOUT_S if external else MAX_TIMEOUT_S
            timeout = self.duration(table["timeout"], f"{base}.timeout", cap)
        env: tuple[tuple[str, str], ...] = ()
        if "env" in table:
            env = self.env(table["env"], f"{base}.env")
        cache = not external
        if "cache" in table:
            cache = self.boolean(table["cache"], f"{base}.cache")
        limits = self.limits(table.get("limits", {}), f"{base}.limits", timeout)
        selectors = self.selectors(table.get("when", {}), f"{base}.when")
        options = self.pytest_options(table, base) if kind == "pytest" else PytestOptions()
        return Stage(
            name=name,
            kind=kind,
            scope=scope,
            run=run,
            select=select,
            args=args,
            inert=inert,
            always_full=always_full,
            needs=needs,
            env=env,
            cache=cache,
            limits=limits,
            selectors=selectors,
            pytest=options,
        )

    def pytest_options(self, table: dict[str, Any], base: str) -> PytestOptions:
        found: dict[str, Any] = {}
        if "fail_fast" in table:
            found["fail_fast"] = self.boolean(table["fail_fast"], f"{base}.fail_fast")
        if "load_tests" in table:
            found["load_tests"] = self.boolean(table["load_tests"], f"{base}.load_tests")
        if "shards" in table:
            value = table["shards"]
            if value != "auto":
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SHARDS:
                    self.fail(
                        f"{base}.shards",
                        f'expected "auto" or an integer from 1 to {MAX_SHARDS}, got '
                        f"{_show(value) if isinstance(value, (str, int)) else _type(value)}",
                    )
                found["shards"] = value
        if "test_timeout" in table:
            value = table["test_timeout"]
            found["test_timeout_s"] = (
                0.0 if value == "off" else self.duration(value, f"{base}.test_timeout", MAX_TIMEOUT_S)
            )
        if "test_timeout_floor" in table:
            found["test_timeout_floor_s"] = self.duration(
                table["test_timeout_floor"], f"{base}.test_timeout_floor", MAX_TIMEOUT_S
            )
        if "test_timeout_factor" in table:
            value = table["test_timeout_factor"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 1000:
                self.fail(
                    f"{base}.test_timeout_factor",
                    f"expected a number from 1 to 1000, got {_show(value)}"
                    if isinstance(value, (int, float, str))
                    else f"expected a number, got {_type(value)}",
                )
            found["test_timeout_factor"] = float(value)
        if "tool_caches" in table:
            found["tool_caches"] = self.tool_caches(table["tool_caches"], f"{base}.tool_caches")
        if "environment" in table:
            field = f"{base}.environment"
            env = self.table(table["environment"], field)
            for key in env:
                if key not in ENVIRONMENT_KEYS:
                    self.fail(f"{field}.{_key(key)}", _unknown("key", key, ENVIRONMENT_KEYS))
            for key in ENVIRONMENT_KEYS:
                if key in env:
                    found[key] = tuple(self.strings(env[key], f"{field}.{key}", allow_empty=True))
            for i, path in enumerate(found.get("requirements", ())):
                if path.startswith("/") or ".." in path.split("/") or not path.strip():
                    self.fail(
                        f"{field}.requirements[{i}]",
                        f'{_quote(path)}: a path inside the tree, like "requirements-test.txt"',
                    )
        return PytestOptions(**found)

    def tool_caches(self, raw: Any, field: str) -> tuple[str, ...]:
        paths = self.strings(raw, field, allow_empty=True)
        if len(paths) > MAX_TOOL_CACHES:
            self.fail(field, f"at most {MAX_TOOL_CACHES} directories, got {len(paths)}")
        for i, path in enumerate(paths):
            parts = path.split("/")
            if len(path) > 255 or "\0" in path or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
                self.fail(
                    f"{field}[{i}]",
                    f'{_quote(path)}: a directory inside the tree, like ".hypothesis/unicode_data" '
                    "(relative, no . or .. parts, not under .git)",
                )
        return tuple(paths)

    def env(self, raw: Any, field: str) -> tuple[tuple[str, str], ...]:
        table = self.table(raw, field)
        pairs: list[tuple[str, str]] = []
        for key, value in table.items():
            where = f"{field}.{_key(key)}"
            if not ENV_NAME.fullmatch(key):
                self.fail(where, "an environment variable name is letters, digits and _, not starting with a digit")
            if key.upper().startswith("TRELLIS_"):
                self.fail(where, "names starting with TRELLIS_ are reserved for the engine")
            text = self.string(value, where)
            if "\0" in text:
                self.fail(where, "the value contains a NUL character")
            pairs.append((key, text))
        return tuple(sorted(pairs))

    def limits(self, raw: Any, field: str, timeout: float) -> StageLimits:
        table = self.table(raw, field)
        for key in table:
            if key not in LIMIT_KEYS:
                self.fail(f"{field}.{_key(key)}", _unknown("key", key, LIMIT_KEYS))
        cpu = timeout
        if "cpu" in table:
            cpu = self.duration(table["cpu"], f"{field}.cpu", MAX_CPU_S)
        memory = DEFAULT_MEMORY_BYTES
        if "memory" in table:
            memory = self.size(table["memory"], f"{field}.memory", MAX_MEMORY_BYTES)
        output = DEFAULT_OUTPUT_BYTES
        if "output" in table:
            output = self.size(table["output"], f"{field}.output", MAX_OUTPUT_BYTES)
        processes = DEFAULT_PROCESSES
        if "processes" in table:
            value = table["processes"]
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(f"{field}.processes", f"expected a positive integer, got {_type(value)}")
            if value <= 0:
                self.fail(f"{field}.processes", f"expected a positive integer, got {value}")
            if value > MAX_PROCESSES:
                self.fail(f"{field}.processes", f"{value} is over the limit of {MAX_PROCESSES}")
            processes = value
        return StageLimits(timeout_s=timeout, cpu_s=cpu, memory_bytes=memory, processes=processes, output_bytes=output)

    def selectors(self, raw: Any, field: str) -> Selectors:
        table = self.table(raw, field)
        for key in table:
            if key not in WHEN_KEYS:
                self.fail(f"{field}.{_key(key)}", _unknown("key", key, WHEN_KEYS))
        found: dict[str, tuple[str, ...]] = {}
        for key in WHEN_KEYS:
            if key not in table:
                continue
            values = self.strings(table[key], f"{field}.{key}", allow_empty=False)
            for i, value in enumerate(values):
                self.selector(key, value, f"{field}.{key}[{i}]")
            found[key] = tuple(values)
        return Selectors(**found)

    def globs(self, raw: Any, field: str) -> tuple[str, ...]:
        values = self.strings(raw, field, allow_empty=True)
        for i, value in enumerate(values):
            try:
                check_glob(value)
            except GlobError as exc:
                self.fail(f"{field}[{i}]", str(exc))
        return tuple(values)

    def selector(self, key: str, value: str, field: str) -> None:
        if key in ("paths", "exclude"):
            try:
                check_glob(value)
            except GlobError as exc:
                hint = "; list the pattern in when.exclude" if value.startswith("!") and key == "paths" else ""
                self.fail(field, f"{_quote(value)}: {exc}{hint}")
        elif key == "languages" and value not in self.languages:
            self.fail(field, _unknown_value("language", value, self.languages))
        elif key == "entities" and value not in ENTITY_KINDS:
            self.fail(field, _unknown_value("entity kind", value, ENTITY_KINDS))
        elif key == "changes" and value not in CHANGE_CLASSES:
            self.fail(field, _unknown_value("change class", value, CHANGE_CLASSES))

    # Protections.

    def protection(self, branch: str, raw: Any, names: Sequence[str]) -> Protection:
        base = f"protect.{_key(branch)}"
        try:
            check_branch_glob(branch)
        except GlobError as exc:
            self.fail(base, f"{_quote(branch)} is not a branch pattern: {exc}")
        table = self.table(raw, base)
        for key in table:
            if key not in PROTECT_KEYS:
                self.fail(f"{base}.{_key(key)}", _unknown("key", key, PROTECT_KEYS))
        if "required" not in table:
            self.fail(f"{base}.required", "missing: list the stages that must pass")
        required = self.strings(table["required"], f"{base}.required", allow_empty=False)
        for i, name in enumerate(required):
            if name not in names:
                self.fail(f"{base}.required[{i}]", _unknown_stage(name, names))
        return Protection(branch=branch, required=tuple(required))

    # Values.

    def table(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(field, f"expected a table, got {_type(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            self.fail(field, f"expected a string, got {_type(value)}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {_type(value)}")
        return value

    def choice(self, value: Any, field: str, choices: Sequence[str], what: str) -> str:
        text = self.string(value, field)
        if text not in choices:
            self.fail(field, _unknown_value(what, text, choices))
        return text

    def strings(self, value: Any, field: str, *, allow_empty: bool, dedupe: bool = True) -> list[str]:
        if isinstance(value, str):
            self.fail(field, f"expected an array of strings, got a string (write [{_quote(value)}])")
        if not isinstance(value, list):
            self.fail(field, f"expected an array of strings, got {_type(value)}")
        if not value and not allow_empty:
            self.fail(
                field,
                "the list is empty, so it would match nothing; remove the key to match everything"
                if ".when." in field
                else "the list is empty",
            )
        out: list[str] = []
        for i, item in enumerate(value):
            text = self.string(item, f"{field}[{i}]")
            if "\0" in text:
                self.fail(f"{field}[{i}]", "the string contains a NUL character")
            if not dedupe or text not in out:
                out.append(text)
        return out

    def duration(self, value: Any, field: str, cap: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(field, f'expected a duration such as "30s" or "500ms", got {_type(value)}')
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError:
                self.fail(field, f'expected a duration such as "30s" or "500ms", got {_quote(value)}')
        else:
            seconds = float(value)
            if not seconds > 0 or seconds == float("inf"):
                self.fail(field, f'expected a positive duration such as "30s" or "500ms", got {value}')
        if seconds > cap:
            self.fail(field, f"{_show(value)} is over the limit of {format_duration(cap)}")
        return seconds

    def size(self, value: Any, field: str, cap: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(field, f'expected a size such as "512MiB" or "1GiB", got {_type(value)}')
        if isinstance(value, str):
            try:
                size = parse_size(value)
            except ValueError:
                self.fail(field, f'expected a size such as "512MiB" or "1GiB", got {_quote(value)}')
        else:
            size = value
            if size <= 0:
                self.fail(field, f'expected a positive size such as "512MiB" or "1GiB", got {value}')
        if size > cap:
            self.fail(field, f"{_show(value)} is over the limit of {format_size(cap)}")
        return size


# -- messages and TOML text -----------------------------------------------------------------------


def _unknown(what: str, key: str, valid: Sequence[str]) -> str:
    near = closest(key, valid)
    hint = f', did you mean "{near}"?' if near else ""
    return f"unknown {what}{hint} (expected one of: {', '.join(valid)})"


def _unknown_value(what: str, value: str, valid: Sequence[str]) -> str:
    near = closest(value, valid)
    hint = f', did you mean "{near}"?' if near else ""
    return f"unknown {what} {_quote(value)}{hint} (expected one of: {', '.join(valid)})"


def _unknown_stage(name: str, names: Sequence[str]) -> str:
    near = closest(name, names)
    hint = f', did you mean "{near}"?' if near else ""
    return f"unknown stage {_quote(name)}{hint}"


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime, date, time)):
        return "a date or time"
    return type(value).__name__


def _show(value: Any) -> str:
    return _quote(value) if isinstance(value, str) else str(value)


def _quote(text: str) -> str:
    return _toml(text)


def _key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, quoted otherwise."""
    return key if _BARE_KEY.fullmatch(key) else _toml(key)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml(value: Any) -> str:
    """A TOML value: a basic string (control characters escaped), bool, number or array."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    out = []
    for c in str(value):
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
