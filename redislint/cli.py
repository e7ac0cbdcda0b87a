"""The command line: `redislint [OPTIONS] [PATHS]...`, `redislint rule CODE`, `redislint rules`,
`redislint patterns [NAME]`. Exit codes: 0 clean, 1 findings, 2 usage/config/internal error."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import click

from redislint import __version__
from redislint.config import ConfigError, Settings, load, _version
from redislint.files import discover
from redislint.linter import Finding
from redislint import output, registry
from redislint.runner import lint_paths

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
@click.version_option(__version__, "--version", prog_name="redislint")
def check(paths: Sequence[str], select, ignore, extend_select, output_format: str,
          config_file: Optional[Path], exclude, extend_exclude, force_exclude: bool,
          exit_zero: bool, statistics: bool, quiet: bool, target_redis_version: Optional[str],
          stdin_filename: Optional[str], jobs: int) -> None:
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
        rules = registry.select(settings)
        registry.validate(settings)
    except ConfigError as error:
        raise _fail(str(error))
    stdin = None
    if "-" in paths:
        paths = [p for p in paths if p != "-"]
        stdin = (stdin_filename or "-", sys.stdin.buffer.read())
    files, missing = discover(paths, settings, force_exclude=force_exclude)
    for item in missing:
        click.echo(f"redislint: error: {item.path}: no such file or directory", err=True)
    result = lint_paths(files, settings, rules, jobs=jobs, stdin=stdin)
    findings = result.findings
    _print(findings, output_format, statistics, quiet, stdin)
    if missing or any(f.code == "RL999" for f in findings):
        raise click.exceptions.Exit(EXIT_ERROR)
    if findings and not exit_zero:
        raise click.exceptions.Exit(EXIT_FINDINGS)


def _with(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def _print(findings: List[Finding], fmt: str, statistics: bool, quiet: bool, stdin) -> None:
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if statistics:
        if findings:
            click.echo(output.statistics(findings))
        return
    if fmt == "json":
        click.echo(output.render_json(findings))
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
        click.echo(output.summary_line(len(findings), fixable))


def _source_lines(findings: List[Finding], stdin) -> Dict[str, List[str]]:
    from redislint.linter import decode

    lines: Dict[str, List[str]] = {}
    for path in {f.path for f in findings}:
        try:
            data = stdin[1] if stdin is not None and path == stdin[0] else Path(path).read_bytes()
            lines[path] = decode(data).splitlines()
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
