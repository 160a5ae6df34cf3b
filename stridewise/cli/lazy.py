"""Sub-commands imported only when they run, so ``stridewise --help`` (and every
command) starts without loading what other commands need (pandas, SQLAlchemy,
Alembic, FastAPI, the provider libraries).

The root group lists each lazy command from a table of names, import targets and
the one-line help ``stridewise --help`` shows; the command's module is imported
only when the command is resolved to run (or to show its own ``--help``).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from importlib import import_module

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

PACKAGE = "stridewise.cli"


@dataclass(frozen=True, slots=True)
class Lazy:
    # "module:attribute" (module relative to stridewise.cli when it starts with a
    # dot): a Typer sub-app or a command function.
    target: str
    # What `stridewise --help` shows (the first paragraph of the command's own help).
    help: str
    # Modules that add sub-commands to the target when imported.
    extras: tuple[str, ...] = ()


def load(name: str, spec: Lazy) -> TyperCommand | TyperGroup:
    """The real click command behind ``spec``."""
    module_name, attribute = spec.target.split(":")
    for extra in spec.extras:
        import_module(extra, PACKAGE)
    target = getattr(import_module(module_name, PACKAGE), attribute)
    if isinstance(target, typer.Typer):
        command: TyperCommand | TyperGroup = typer.main.get_group(target)
    else:
        single = typer.Typer(rich_markup_mode="rich")
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


def lazy_group(commands: dict[str, Lazy]) -> type[TyperGroup]:
    """A root group class that knows ``commands`` by name and loads each on use."""

    class LazyGroup(TyperGroup):
        def list_commands(self, ctx: typer.Context) -> list[str]:
            eager = super().list_commands(ctx)
            return [*(n for n in commands if n not in eager), *eager]

        def get_command(self, ctx: typer.Context, cmd_name: str):
            if cmd_name in self.commands or cmd_name not in commands:
                return super().get_command(ctx, cmd_name)
            # A stand-in for the help listing; resolve_command swaps in the real one.
            return TyperCommand(name=cmd_name, help=commands[cmd_name].help)

        def resolve_command(self, ctx: typer.Context, args: list[str]):
            unknown = args and args[0] not in self.commands and args[0] not in commands
            close = get_close_matches(args[0], list(commands)) if unknown else []
            if close:  # Typer itself would suggest only from the loaded commands
                shown = ", ".join(repr(m) for m in close)
                ctx.fail(f"No such command {args[0]!r}. Did you mean {shown}?")
            name, command, rest = super().resolve_command(ctx, args)
            if name in commands and name not in self.commands:
                command = self.commands[name] = load(name, commands[name])
            return name, command, rest

    return LazyGroup
