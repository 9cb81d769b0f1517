"""The ``stateward`` command: every subcommand is registered here."""

from __future__ import annotations

import typer

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

app = typer.Typer(
    name="stateward",
    no_args_is_help=True,
    add_completion=False,
    help="Stateward: keeps the real state of a cloud true, and says so fast.",
)

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
