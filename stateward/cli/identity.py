"""``stateward user|project|role|app-cred``: identity administration on the server's store
(like ``keystone-manage``: run where the database is reachable)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from stateward.cli.common import ConfigOption, DbOption, StateDirOption, run, settings_from
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one
from stateward.config import Settings
from stateward.services.identity import IdentityService
from stateward.store.db import Store
from stateward.store.repositories.identity import IdentityRepository

user_app = typer.Typer(help="Users.")
project_app = typer.Typer(help="Projects.")
role_app = typer.Typer(help="Roles and role assignments.")
app_cred_app = typer.Typer(help="Application credentials (for agents and services).")


class _Session:
    def __init__(self, settings: Settings) -> None:
        self.store = Store(settings.database_url)
        self.identity = IdentityService(self.store, settings.identity)

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()


def _session(config: Path | None, state_dir: Path | None, db: str | None) -> _Session:
    return _Session(settings_from(config, state_dir, db))


@user_app.command("create")
def user_create(
    name: str,
    password: str | None = typer.Option(
        None, "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
    project: str | None = typer.Option(None, "--project", help="Assign a role on this project."),
    role: str = typer.Option("member", "--role", help="Role to assign with --project."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Create a user, optionally with a role on a project."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s:
            return await s.identity.create_user(
                name, password, project=project, role=role if project else None
            )

    user = run(go)
    emit_one(
        {
            "id": user.id,
            "name": user.name,
            "domain_id": user.domain_id,
            "default_project_id": user.default_project_id,
        },
        fmt,
        columns,
    )


@user_app.command("list")
def user_list(
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """List users."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s, s.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_users()

    emit_list(
        [
            {"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled}
            for u in run(go)
        ],
        fmt,
        columns,
    )


@user_app.command("set-password")
def user_set_password(
    name: str,
    password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Change a user's password."""

    async def go() -> None:
        async with _session(config, state_dir, db) as s:
            await s.identity.set_password(name, password)

    run(go)
    typer.echo(f"password of {name} changed")


@project_app.command("create")
def project_create(
    name: str,
    description: str = typer.Option("", "--description"),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Create a project."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s:
            return await s.identity.create_project(name, description)

    p = run(go)
    emit_one(
        {"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description},
        fmt,
        columns,
    )


@project_app.command("list")
def project_list(
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """List projects."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s, s.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_projects()

    emit_list(
        [
            {"id": p.id, "name": p.name, "domain_id": p.domain_id, "enabled": p.enabled}
            for p in run(go)
        ],
        fmt,
        columns,
    )


@role_app.command("add")
def role_add(
    role: str,
    user: str = typer.Option(..., "--user"),
    project: str = typer.Option(..., "--project"),
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Give USER the ROLE on PROJECT."""

    async def go() -> None:
        async with _session(config, state_dir, db) as s:
            await s.identity.assign_role(user, project, role)

    run(go)
    typer.echo(f"{user} has role {role} on {project}")


@role_app.command("remove")
def role_remove(
    role: str,
    user: str = typer.Option(..., "--user"),
    project: str = typer.Option(..., "--project"),
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Take ROLE on PROJECT away from USER."""

    async def go() -> None:
        async with _session(config, state_dir, db) as s:
            await s.identity.unassign_role(user, project, role)

    run(go)
    typer.echo(f"{user} no longer has role {role} on {project}")


@role_app.command("create")
def role_create(
    name: str,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Create a custom role."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s:
            return await s.identity.create_role(name)

    typer.echo(f"role {run(go).name} created")


@role_app.command("list")
def role_list(
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    assignments: bool = typer.Option(
        False, "--assignments", help="List who holds which role where."
    ),
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """List roles, or role assignments."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s, s.store.uow(readonly=True) as uow:
            repo = IdentityRepository(uow)
            if assignments:
                return [
                    {"user": u, "project": p, "role": r} for u, p, r in await repo.assignments()
                ]
            return [{"id": r.id, "name": r.name} for r in await repo.list_roles()]

    emit_list(run(go), fmt, columns)


@app_cred_app.command("create")
def app_cred_create(
    name: str,
    user: str = typer.Option(..., "--user"),
    project: str = typer.Option(..., "--project"),
    role: list[str] | None = typer.Option(None, "--role", help="Limit to these roles."),
    expires: datetime | None = typer.Option(None, "--expires", help="UTC expiry time."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Create an application credential; its secret is shown once."""
    from datetime import UTC

    async def go() -> Any:
        async with _session(config, state_dir, db) as s:
            return await s.identity.create_app_cred(
                user,
                project,
                name,
                roles=role or None,
                expires_at=expires.replace(tzinfo=UTC) if expires else None,
            )

    cred, secret = run(go)
    emit_one(
        {
            "id": cred.id,
            "name": cred.name,
            "project_id": cred.project_id,
            "roles": cred.roles,
            "expires_at": cred.expires_at,
            "secret": secret,
        },
        fmt,
        columns,
    )


@app_cred_app.command("list")
def app_cred_list(
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """List application credentials."""

    async def go() -> Any:
        async with _session(config, state_dir, db) as s, s.store.uow(readonly=True) as uow:
            return await IdentityRepository(uow).list_app_creds()

    emit_list(
        [
            {
                "id": c.id,
                "name": c.name,
                "user_id": c.user_id,
                "project_id": c.project_id,
                "roles": c.roles,
                "expires_at": c.expires_at,
            }
            for c in run(go)
        ],
        fmt,
        columns,
    )


@app_cred_app.command("delete")
def app_cred_delete(
    cred_id: str,
    config: Path | None = ConfigOption,
    state_dir: Path | None = StateDirOption,
    db: str | None = DbOption,
) -> None:
    """Delete an application credential."""

    async def go() -> bool:
        async with _session(config, state_dir, db) as s, s.store.uow() as uow:
            deleted = await IdentityRepository(uow).delete_app_cred(cred_id)
            await uow.commit()
            return deleted

    if not run(go):
        typer.secho(f"error: application credential {cred_id} not found", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"application credential {cred_id} deleted")
