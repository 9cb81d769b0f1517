"""``stateward user|project|role|app-cred``: identity administration, as clients of the
server's Keystone v3 API (the same calls ``openstack user create`` and friends make)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import typer

from stateward.cli.client import (
    ClientError,
    OsPasswordOption,
    OsProjectOption,
    ServerClient,
    api_command,
)
from stateward.cli.output import ColumnOption, Format, FormatOption, emit_list, emit_one

user_app = typer.Typer(help="Users.")
project_app = typer.Typer(help="Projects.")
role_app = typer.Typer(help="Roles and role assignments.")
app_cred_app = typer.Typer(help="Application credentials (for agents and services).")

V3 = "/identity/v3"


def find(client: ServerClient, kind: str, ref: str) -> dict[str, Any]:
    """A user, project or role by id, else by name (as ``openstack`` resolves them)."""
    singular = kind[:-1]
    try:
        return dict(client.get_json(f"{V3}/{kind}/{quote(ref, safe='')}")[singular])
    except ClientError as exc:
        if exc.status not in (403, 404):
            raise
    matches = client.get_json(f"{V3}/{kind}", name=ref)[kind]
    if len(matches) != 1:
        reason = "no" if not matches else "more than one"
        raise ClientError(404, f"{reason} {singular} named or with id {ref!r}")
    return dict(matches[0])


def _user_row(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "name": user["name"],
        "domain_id": user["domain_id"],
        "enabled": user["enabled"],
        "default_project_id": user.get("default_project_id"),
        "email": user.get("email"),
    }


def _project_row(project: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "domain_id", "description", "enabled")
    return {k: project.get(k) for k in keys}


@user_app.command("create")
@api_command(password=OsPasswordOption, project=OsProjectOption)
def user_create(
    client: ServerClient,
    name: str,
    password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
    project: str | None = typer.Option(None, "--project", help="Give a role on this project."),
    role: str = typer.Option("member", "--role", help="The role to give with --project."),
    email: str | None = typer.Option(None, "--email"),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Create a user, optionally with a role on a project."""
    body: dict[str, Any] = {"name": name, "password": password, "enabled": True}
    target = find(client, "projects", project) if project else None
    granted = find(client, "roles", role) if target else None
    if target:
        body["default_project_id"] = target["id"]
    if email:
        body["email"] = email
    user = client.post_json(f"{V3}/users", {"user": body})["user"]
    if target and granted:
        client.request(
            "PUT", f"{V3}/projects/{target['id']}/users/{user['id']}/roles/{granted['id']}"
        )
    emit_one(_user_row(user), fmt, columns)


@user_app.command("list")
@api_command()
def user_list(
    client: ServerClient,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List users."""
    users = client.get_json(f"{V3}/users")["users"]
    emit_list([_user_row(u) for u in users], fmt, columns)


@user_app.command("show")
@api_command()
def user_show(
    client: ServerClient,
    user: str,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Show a user (by name or id)."""
    found = find(client, "users", user)
    emit_one(_user_row(found), fmt, columns)


@user_app.command("set-password")
@api_command(password=OsPasswordOption)
def user_set_password(
    client: ServerClient,
    user: str,
    new_password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
) -> None:
    """Set a user's password (an admin's action); the user's tokens are revoked."""
    found = find(client, "users", user)
    client.patch_json(f"{V3}/users/{found['id']}", {"user": {"password": new_password}})
    typer.echo(f"password of {found['name']} changed; its tokens are revoked")


@user_app.command("delete")
@api_command()
def user_delete(
    client: ServerClient,
    user: str,
) -> None:
    """Delete a user (by name or id)."""
    found = find(client, "users", user)
    client.delete(f"{V3}/users/{found['id']}")
    typer.echo(f"deleted user {found['name']}")


@project_app.command("create")
@api_command()
def project_create(
    client: ServerClient,
    name: str,
    description: str = typer.Option("", "--description"),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Create a project."""
    body = {"project": {"name": name, "description": description, "enabled": True}}
    created = client.post_json(f"{V3}/projects", body)["project"]
    emit_one(_project_row(created), fmt, columns)


@project_app.command("list")
@api_command()
def project_list(
    client: ServerClient,
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List projects."""
    projects = client.get_json(f"{V3}/projects")["projects"]
    emit_list([_project_row(p) for p in projects], fmt, columns)


@project_app.command("delete")
@api_command()
def project_delete(
    client: ServerClient,
    name: str,
) -> None:
    """Delete a project (by name or id)."""
    found = find(client, "projects", name)
    client.delete(f"{V3}/projects/{found['id']}")
    typer.echo(f"deleted project {found['name']}")


def _grant_path(client: ServerClient, role: str, user: str, project: str) -> str:
    r = find(client, "roles", role)
    u = find(client, "users", user)
    p = find(client, "projects", project)
    return f"{V3}/projects/{p['id']}/users/{u['id']}/roles/{r['id']}"


@role_app.command("add")
@api_command(project=OsProjectOption)
def role_add(
    client: ServerClient,
    role: str,
    user: str = typer.Option(..., "--user"),
    project: str = typer.Option(..., "--project"),
) -> None:
    """Give USER the ROLE on PROJECT."""
    client.request("PUT", _grant_path(client, role, user, project))
    typer.echo(f"{user} has role {role} on {project}")


@role_app.command("remove")
@api_command(project=OsProjectOption)
def role_remove(
    client: ServerClient,
    role: str,
    user: str = typer.Option(..., "--user"),
    project: str = typer.Option(..., "--project"),
) -> None:
    """Take ROLE on PROJECT away from USER (their tokens there stop working at once)."""
    client.request("DELETE", _grant_path(client, role, user, project))
    typer.echo(f"{user} no longer has role {role} on {project}")


@role_app.command("create")
@api_command()
def role_create(
    client: ServerClient,
    name: str,
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a custom role."""
    body = {"role": {"name": name, "description": description}}
    created = client.post_json(f"{V3}/roles", body)["role"]
    typer.echo(f"role {created['name']} created ({created['id']})")


@role_app.command("delete")
@api_command()
def role_delete(
    client: ServerClient,
    name: str,
) -> None:
    """Delete a custom role (the built-in ones cannot be)."""
    found = find(client, "roles", name)
    client.delete(f"{V3}/roles/{found['id']}")
    typer.echo(f"deleted role {found['name']}")


@role_app.command("list")
@api_command()
def role_list(
    client: ServerClient,
    assignments: bool = typer.Option(
        False, "--assignments", help="List who holds which role where."
    ),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List roles, or role assignments."""
    if assignments:
        found = client.get_json(f"{V3}/role_assignments", include_names="true")
        rows = [
            {
                "user": a["user"]["name"],
                "project": a["scope"]["project"]["name"],
                "role": a["role"]["name"],
            }
            for a in found["role_assignments"]
        ]
    else:
        rows = [{"id": r["id"], "name": r["name"]} for r in client.get_json(f"{V3}/roles")["roles"]]
    emit_list(rows, fmt, columns)


def _cred_row(cred: dict[str, Any]) -> dict[str, Any]:
    row = {
        "id": cred["id"],
        "name": cred["name"],
        "user_id": cred["user_id"],
        "project_id": cred["project_id"],
        "roles": [r["name"] for r in cred["roles"]],
        "expires_at": cred["expires_at"],
        "unrestricted": cred["unrestricted"],
    }
    if "secret" in cred:
        row["secret"] = cred["secret"]
    return row


@app_cred_app.command("create")
@api_command(project=OsProjectOption)
def app_cred_create(
    client: ServerClient,
    name: str,
    user: str | None = typer.Option(
        None, "--user", help="For another user (admin); default yourself."
    ),
    project: str | None = typer.Option(
        None, "--project", help="With --user: the project; default your token's."
    ),
    role: list[str] | None = typer.Option(None, "--role", help="Limit to these roles."),
    expires: datetime | None = typer.Option(None, "--expires", help="UTC expiry time."),
    unrestricted: bool = typer.Option(
        False, "--unrestricted", help="May create further credentials (Keystone's option)."
    ),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """Create an application credential; its secret is shown once."""
    body: dict[str, Any] = {"name": name, "unrestricted": unrestricted}
    owner = client.user_id()
    if user is not None:
        owner = find(client, "users", user)["id"]
    if project is not None:
        body["project_id"] = find(client, "projects", project)["id"]
    if role:
        body["roles"] = [{"name": r} for r in role]
    if expires is not None:
        body["expires_at"] = expires.replace(tzinfo=UTC).isoformat()
    cred = client.post_json(
        f"{V3}/users/{owner}/application_credentials", {"application_credential": body}
    )["application_credential"]
    emit_one(_cred_row(cred), fmt, columns)


@app_cred_app.command("list")
@api_command()
def app_cred_list(
    client: ServerClient,
    user: str | None = typer.Option(None, "--user", help="Another user's (admin)."),
    fmt: Format = FormatOption,
    columns: list[str] | None = ColumnOption,
) -> None:
    """List application credentials (yours, or --user's)."""
    owner = find(client, "users", user)["id"] if user else client.user_id()
    creds = client.get_json(f"{V3}/users/{owner}/application_credentials")
    emit_list([_cred_row(c) for c in creds["application_credentials"]], fmt, columns)


@app_cred_app.command("delete")
@api_command()
def app_cred_delete(
    client: ServerClient,
    cred_id: str,
    user: str | None = typer.Option(None, "--user", help="Another user's (admin)."),
) -> None:
    """Delete an application credential; tokens obtained with it stop working at once."""
    owner = find(client, "users", user)["id"] if user else client.user_id()
    client.delete(f"{V3}/users/{owner}/application_credentials/{cred_id}")
    typer.echo(f"application credential {cred_id} deleted")
