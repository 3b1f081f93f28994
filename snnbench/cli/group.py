"""The `snnbench` command. Each command is a thin call into the library; every SnnbenchError becomes
one line on stderr and exit code 2 (click's own usage errors exit with 2 as well)."""
from __future__ import annotations

import functools
import math
import re
import os
import sqlite3
from pathlib import Path

import click

from ..errors import ConfigError, SnnbenchError

MAX_ERROR_LENGTH = 600  # characters of an error line; a message may quote an argument of any length


def _one_line(text: str) -> str:
    """A message as one line of bounded length (click's choice lists span several lines)."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ERROR_LENGTH else line[:MAX_ERROR_LENGTH - 3] + "..."


def _command_path(ctx) -> str:
    """'snnbench surrogate fit' for the command a context runs, whatever the program was called."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["snnbench", *reversed(names)])


def _environment_message(exc: BaseException) -> str:
    """One line for a failure of the environment that reached the CLI without a typed error."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    return f"SQLite: {exc}"


# optional dependencies, by the module a command imports, and the extra that installs them
_EXTRAS = {"torch": "build", "torchvision": "build", "spikingjelly": "build", "sklearn": "build",
           "xgboost": "surrogate", "matplotlib": "plots", "ray": "ray"}


_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def as_options(message: str, command) -> str:
    """A library message in the words of the command line: the library names a parameter as
    `name`; the command says the option that sets it (--jobs-per-gpu for `jobs_per_gpu`, --space for
    `space` even where the command calls it space_name)."""
    flags = {}
    for param in getattr(command, "params", []):
        for flag in (o for o in getattr(param, "opts", ()) if o.startswith("--")):
            flags.setdefault(param.name, flag)
            flags.setdefault(flag[2:].replace("-", "_"), flag)
    return _PARAMETER.sub(lambda m: flags.get(m.group(1), "--" + m.group(1).replace("_", "-")), message)


class SnnbenchGroup(click.Group):
    """A click group that turns snnbench's typed errors, and any failure of the file system, into one
    line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SnnbenchError as exc:
            sub = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            click.echo(f"error: {_one_line(as_options(str(exc), sub))}", err=True)
            ctx.exit(2)
        except ModuleNotFoundError as exc:  # an optional dependency this command needs is not installed
            extra = _EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            click.echo(f"error: this command needs {exc.name}, which is not installed: "
                       f"pip install 'snnbench[{extra}]'", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option of a command: one line too, not the usage text
            sub = ctx.invoked_subcommand or ""
            where = f"{_command_path(ctx)} {sub}".strip()
            click.echo(f"error: {_one_line(exc.format_message())} (see {where} --help)", err=True)
            ctx.exit(2)
        except BrokenPipeError:
            raise  # `snnbench space --list | head`: click ends quietly
        except (OSError, sqlite3.Error) as exc:  # a disk or permission failure no layer below named
            click.echo(f"error: {_one_line(_environment_message(exc))}", err=True)
            ctx.exit(2)


class FiniteFloat(click.FloatRange):
    """A float option in a range that is also finite: nan passes every comparison of a plain range,
    and inf makes a budget endless."""
    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def seed_option(value, option):
    from ..options import seed_value
    return seed_value(value, option)


@click.group(cls=SnnbenchGroup)
@click.version_option(package_name="snnbench")
def main():
    """SNN-NAS-Bench: enumerate, score, train, tabulate and query SNASNet cell spaces."""


# ----------------------------------------------------------------------------- space


# ----------------------------------------------------------------------------- score


# ----------------------------------------------------------------------------- train


# ----------------------------------------------------------------------------- build


# ----------------------------------------------------------------------------- query, info, verify


# ----------------------------------------------------------------------------- analysis, surrogate, search


# ----------------------------------------------------------------------------- end of analysis, surrogate, search


def run():  # an entry point that names the program snnbench whatever the script is called
    main(prog_name="snnbench")





def read_tables(paths) -> tuple[list, list, list]:
    """(frames, names, spaces) of tables given by path or shipped name; a name says the file, dataset
    and protocol."""
    from ..table import open_table
    frames, names, spaces = [], [], []
    for path in paths:
        with open_table(path) as bench:
            frames.append(bench.to_dataframe())
            meta = bench.metadata
            names.append(f"{bench.path.name} ({meta['dataset']}, {meta['protocol_name']} {meta['protocol_hash']})")
        spaces.append(meta["space"])
    return frames, names, spaces


def check_plot_folder(folder) -> None:
    """--plot naming a folder: it may not exist yet, but must not be a file."""
    if Path(folder).exists() and not Path(folder).is_dir():
        raise ConfigError(f"--plot {folder} exists and is not a folder: give a folder or NAME.png")


def check_plot_outputs(paths, inputs) -> None:
    """Refuse figures that would replace an input, or land on something that is not a plain file."""
    from ..files import check_output_file, refuse_overwriting_inputs
    for path in paths:
        check_plot_folder(Path(path).parent)
        check_output_file(path, "--plot")
    refuse_overwriting_inputs(paths, inputs, "--plot")


TABLE_ENV = "SNNBENCH_TABLE"


def table_input(required: bool):
    """The table a command reads, the same way in every such command: its FILE argument, or --table
    FILE, or $SNNBENCH_TABLE (in that order). Without one: the shipped tables where the command can
    read them (required False), else a usage error (exit 2). The command gets it as `table_path`."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, table_path=None, table_option=None, **kwargs):
            if table_path is not None and table_option is not None and table_option != os.environ.get(TABLE_ENV):
                raise click.UsageError("give the table once: FILE or --table FILE")
            table_path = table_path if table_path is not None else table_option
            if table_path is None and required:
                raise click.UsageError(f"give a table: FILE, --table FILE or ${TABLE_ENV}")
            return fn(*args, table_path=table_path, **kwargs)

        wrapper = click.option("--table", "table_option", type=click.Path(dir_okay=False), default=None,
                               envvar=TABLE_ENV, help=f"The table to read (instead of FILE; default ${TABLE_ENV})."
                               )(wrapper)
        return click.argument("table_path", metavar="[FILE]", type=click.Path(dir_okay=False),
                              required=False)(wrapper)
    return decorate
