"""The command line: `redislint [OPTIONS] [PATHS]...`, `redislint rule CODE`, `redislint rules`,
`redislint patterns [NAME]`. Exit codes: 0 clean, 1 findings, 2 usage/config/internal error."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import click

from redislint import __version__
from redislint.config import ConfigError, Settings, load, _version
from redislint.files import discover, project_files
from redislint.findings import Finding
from redislint import output, registry
from redislint.cache import Cache
from redislint.runner import FixMode, lint_paths

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(values: Sequence[str]) -> Optional[tuple]:
    if not values:
        return None
    return tuple(c.strip() for value in values for c in value.split(",") if c.strip())


def _fail(message: str) -> "click.exceptions.Exit":
    click.echo(f"redislint: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_ERROR)


class _DefaultToCheck(click.Group):
    """`redislint src/` means `redislint check src/`; subcommand names win only as the first word
    (`./rule` still lints a folder called rule)."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        if not args or args[0] not in self.commands:
            if not (args and args[0] in ("--help", "-h")):
                args = ["check", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        check = self.commands["check"]
        with click.Context(check, info_name=ctx.info_name, parent=None) as sub:
            check.format_help(sub, formatter)
        self.format_commands(ctx, formatter)


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """redislint: find, fix and explain Redis usage anti-patterns in Python code."""


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (RL2, RL201, ALL).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--extend-select", multiple=True, help="Enable these on top of the selection.")
@click.option("--output-format", type=click.Choice(output.FORMATS), default="full",
              show_default=True, help="How findings are printed.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A pyproject.toml or redislint.toml to read instead of the nearest one.")
@click.option("--exclude", multiple=True, help="Globs to exclude (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, help="Globs to exclude on top of the defaults.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes to files named explicitly too.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--statistics", is_flag=True, help="Print a count per rule instead of findings.")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary line.")
@click.option("--target-redis-version", help="The oldest Redis server the code runs on (7.0).")
@click.option("--stdin-filename", help="The name to report for code read from `-`.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0,
              help="Worker processes (default: all cores).")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, apply unsafe fixes too.")
@click.option("--diff", is_flag=True, help="Print the diff --fix would apply; write nothing.")
@click.option("--show-fixes", is_flag=True, help="List the findings that were fixed.")
@click.option("--exit-non-zero-on-fix", is_flag=True,
              help="Exit 1 when a fix changed a file, even if nothing remains.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where the cache lives (default: .redislint_cache beside the config).")
@click.version_option(__version__, "--version", prog_name="redislint")
def check(paths: Sequence[str], select, ignore, extend_select, output_format: str,
          config_file: Optional[Path], exclude, extend_exclude, force_exclude: bool,
          exit_zero: bool, statistics: bool, quiet: bool, target_redis_version: Optional[str],
          stdin_filename: Optional[str], jobs: int, fix: bool, unsafe_fixes: bool, diff: bool,
          show_fixes: bool, exit_non_zero_on_fix: bool, no_cache: bool,
          cache_dir: Optional[Path]) -> None:
    """Lint PATHS (files or folders, default `.`); `-` reads standard input."""
    paths = list(paths) or ["."]
    try:
        overrides: Dict[str, object] = {
            "select": _codes(select),
            "extend_select": _codes(extend_select),
            "exclude": _codes(exclude),
            "extend_exclude": _codes(extend_exclude),
        }
        if target_redis_version is not None:
            overrides["target_redis_version"] = _version("--target-redis-version", target_redis_version)
        start = Path(stdin_filename or next((p for p in paths if p != "-"), "."))
        settings = load(config_file, start if start.exists() else Path.cwd(), overrides)
        cli_ignore = _codes(ignore)
        if cli_ignore:
            settings = _with(settings, ignore=settings.ignore + cli_ignore)
        cache = None
        if not no_cache:
            cache = Cache(cache_dir or Path(os.environ.get("REDISLINT_CACHE_DIR")
                                            or settings.root / ".redislint_cache"))
        catalogue = registry.catalogue(cache)
        rules = registry.choose(settings, catalogue)
        registry.validate(settings, catalogue)
    except ConfigError as error:
        raise _fail(str(error))
    stdin = None
    if "-" in paths:
        paths = [p for p in paths if p != "-"]
        stdin = (stdin_filename or "-", sys.stdin.buffer.read())
    files, missing = discover(paths, settings, force_exclude=force_exclude)
    for item in missing:
        click.echo(f"redislint: error: {item.path}: {item.reason}", err=True)
    mode = FixMode(unsafe=unsafe_fixes) if (fix or diff) else None
    project = project_files(paths + ([stdin[0]] if stdin is not None else []), settings)
    result = lint_paths(files, settings, rules, jobs=jobs, stdin=stdin, cache=cache, fix=mode,
                        project=project)
    changed = [r for r in result.results if r.new_data is not None]
    failed_writes = _apply(changed, diff, stdin)
    for file_result in result.results:
        for note in file_result.notes:
            click.echo(f"redislint: warning: {file_result.path}: {note}", err=True)
    findings = result.findings
    if stdin is not None and fix and not diff:
        # `redislint --fix -` prints the fixed code; findings go to stderr.
        data = next((r.new_data for r in changed if r.path == stdin[0]), None)
        sys.stdout.buffer.write(data if data is not None else stdin[1])
        sys.stdout.flush()
        with _to_stderr():
            _print(findings, output_format, statistics, quiet, stdin, settings, rules, result)
    elif not diff:
        if show_fixes:
            _print_fixed(result)
        _print(findings, output_format, statistics, quiet, stdin, settings, rules, result)
    if missing or failed_writes or any(f.code == "RL999" for f in findings):
        raise click.exceptions.Exit(EXIT_ERROR)
    if diff:
        raise click.exceptions.Exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
    if exit_non_zero_on_fix and changed:
        raise click.exceptions.Exit(EXIT_FINDINGS)
    if findings and not exit_zero:
        raise click.exceptions.Exit(EXIT_FINDINGS)


def _apply(changed, diff: bool, stdin) -> int:
    """Write fixed files atomically, or print their diff. Returns how many writes failed."""
    import difflib

    failures = 0
    for file_result in changed:
        if diff:
            before = file_result.original.decode("utf-8", "replace").splitlines(keepends=True)
            after = file_result.new_data.decode("utf-8", "replace").splitlines(keepends=True)
            click.echo("".join(difflib.unified_diff(before, after, file_result.path, file_result.path)),
                       nl=False)
            continue
        if stdin is not None and file_result.path == stdin[0]:
            continue
        from redislint.fixes import write_atomically

        try:
            write_atomically(Path(file_result.path), file_result.new_data, file_result.original)
        except OSError as error:
            failures += 1
            click.echo(f"redislint: error: {file_result.path}: cannot write the fix "
                       f"({error.strerror or error}); the file is unchanged", err=True)
    return failures


class _to_stderr:
    def __enter__(self):
        self._stdout = sys.stdout
        sys.stdout = sys.stderr

    def __exit__(self, *exc):
        sys.stdout = self._stdout


def _print_fixed(result) -> None:
    fixed = [f for r in result.results for f in r.fixed]
    if not fixed:
        return
    click.echo(f"Fixed {len(fixed)} error{'s' if len(fixed) != 1 else ''}:")
    for path in sorted({f.path for f in fixed}):
        click.echo(f"- {path}:")
        for f in (x for x in fixed if x.path == path):
            click.echo(f"    {f.start[0]} x {f.code} ({f.name})")
    click.echo()


def _with(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def _print(findings: List[Finding], fmt: str, statistics: bool, quiet: bool, stdin,
           settings: Settings, rules, result) -> None:
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if statistics:
        if findings:
            click.echo(output.statistics(findings))
        return
    machine = {
        "json": lambda: output.render_json(findings),
        "json-lines": lambda: output.render_json_lines(findings),
        "github": lambda: output.render_github(findings),
        "gitlab": lambda: output.render_gitlab(findings),
        "junit": lambda: output.render_junit(findings),
        "sarif": lambda: output.render_sarif(findings, registry.load(rules) + registry.engine_descriptors(),
                                             __version__),
    }
    if fmt in machine:
        text = machine[fmt]()
        if text:
            click.echo(text)
        return
    if fmt == "concise":
        text = output.render_concise(findings, color)
    else:
        text = output.render_full(findings, _source_lines(findings, stdin), color)
    if text:
        click.echo(text)
        if fmt == "full":
            click.echo()
    if not quiet:
        fixable = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
        unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
        fixed = sum(len(r.fixed) for r in result.results)
        click.echo(output.summary_line(len(findings), fixable, unsafe, fixed))


def _source_lines(findings: List[Finding], stdin) -> Dict[str, List[str]]:
    from redislint.sources import decode

    lines: Dict[str, List[str]] = {}
    for path in {f.path for f in findings}:
        try:
            data = stdin[1] if stdin is not None and path == stdin[0] else Path(path).read_bytes()
            # Python's lines: str.splitlines() would also split at form feeds and \x1c-\x1e
            lines[path] = re.split(r"\r\n|\r|\n", decode(data))
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError):
            lines[path] = []
    return lines


@main.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Print a rule's documentation."""
    try:
        rule = registry.find(code)
    except KeyError:
        raise _fail(f"unknown rule `{code}` (see `redislint rules`)")
    fix = {None: "No fix.", "safe": "A safe fix is available.",
           "unsafe": "An unsafe fix is available (--unsafe-fixes)."}[rule.fix_safety]
    state = "on by default" if rule.default_enabled else "off by default (enable with --select)"
    click.echo(f"# {rule.name} ({rule.code})\n\n{fix} This rule is {state}.\n\n{rule.docs()}")
    from redislint.semantic.clients import shapes

    click.echo("\n## Which calls are Redis calls\nThe rule looks at calls on every Redis client "
               "the engine recognises, shape by shape (how each was recognised is kept: proven, "
               "inferred, probable).\n\n" + shapes())
    if rule.pattern:
        click.echo(f"\n## References\n- `redislint patterns {rule.pattern}`: the tested reference code.")


@main.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text")
def rules_command(output_format: str) -> None:
    """List every rule: code, name, default on/off, fix."""
    rows = registry.all_rules()
    if output_format == "json":
        import json

        click.echo(json.dumps([{"code": r.code, "name": r.name, "default": r.default_enabled,
                                "fix": r.fix_safety, "summary": r.message} for r in rows], indent=2))
        return
    click.echo(f"{'code':<7}{'name':<32}{'default':<9}{'fix':<8}")
    for r in rows:
        click.echo(f"{r.code:<7}{r.name:<32}{'on' if r.default_enabled else 'off':<9}"
                   f"{r.fix_safety or '-':<8}")


@main.command("patterns")
@click.argument("name", required=False)
def patterns_command(name: Optional[str]) -> None:
    """List the reference patterns, or print one with its tested code."""
    from redislint.patterns import catalog

    if name is None:
        click.echo(catalog.list_text())
        return
    try:
        click.echo(catalog.render(name))
    except KeyError:
        slugs = ", ".join(p.slug for p in catalog.PATTERNS)
        raise _fail(f"unknown pattern `{name}` (one of: {slugs})")


def run() -> None:
    """Entry point that turns any unexpected exception into one line and exit code 2."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("redislint: interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001
        if os.environ.get("REDISLINT_DEBUG"):
            raise
        click.echo(f"redislint: internal error: {type(error).__name__}: {error} "
                   "(please report it; REDISLINT_DEBUG=1 shows the traceback)", err=True)
        sys.exit(EXIT_ERROR)
