"""The ``stateward`` command: every subcommand is registered here."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperArgument, TyperOption

from stateward import __version__
from stateward.cli import (
    agent,
    chain,
    chassis,
    hosts,
    identity,
    journal,
    monitor,
    profile,
    server,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stateward {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="stateward",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help, like the openstack CLI: "[agent]" stays "[agent]"
    help="Stateward: keeps the real state of a cloud true, and says so fast.",
)


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    """Stateward: keeps the real state of a cloud true, and says so fast."""


app.command("serve")(server.serve)
app.add_typer(agent.agent_app, name="agent")
app.add_typer(chassis.chassis_app, name="chassis")
app.command("clouds-yaml")(server.clouds_yaml)
app.add_typer(server.db_app, name="db")
app.add_typer(server.config_app, name="config")
app.add_typer(identity.user_app, name="user")
app.add_typer(identity.project_app, name="project")
app.add_typer(identity.role_app, name="role")
app.add_typer(identity.app_cred_app, name="app-cred")
app.add_typer(hosts.app, name="host")
app.add_typer(monitor.app, name="monitor")
app.add_typer(profile.app, name="profile")
app.add_typer(journal.journal_app, name="journal")
app.command("controller-shim")(journal.controller_shim)
app.command("emulate")(journal.emulate)
app.command("consumer")(chain.consumer)
app.add_typer(chain.bench_app, name="bench")
app.command("demo")(chain.demo)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


_LITERAL = re.compile(r"``(.+?)``")


def _plain(text: str | None) -> str | None:
    """Docstrings are written with reST literals (``x``); a terminal shows them as x."""
    return _LITERAL.sub(r"\1", text) if text else text


def polish(command: Any) -> Any:
    """OpenStack-CLI-like help for every command: ``--name <name>`` instead of a type tag,
    nothing for flags, the choices of a choice, and no reST markup."""
    command.help = _plain(command.help)
    command.short_help = _plain(command.short_help)
    for param in command.params:
        if isinstance(param, TyperOption):
            param.help = _plain(param.help)
            choice = param.type_descriptor.is_choice
            if param.metavar is None and not (param.is_flag or param.count or choice):
                longest = max(param.opts, key=len).lstrip("-")
                param.metavar = f"<{longest}>"
        elif isinstance(param, TyperArgument):
            param.help = _plain(param.help)
    for sub in getattr(command, "commands", {}).values():
        polish(sub)
    return command


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    return None  # an argument's name says what it is; no "<str>" after it


TyperArgument.display_type_rich = _argument_type  # type: ignore[assignment]


def build() -> Any:
    return polish(typer.main.get_command(app))


def main() -> None:
    """The console script."""
    build()(prog_name="stateward")
