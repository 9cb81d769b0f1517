"""Keystone v3's administration APIs: users, projects and domains, roles and assignments,
application credentials. Tokens and discovery live in ``stateward.api.identity``."""

from fastapi import APIRouter

from stateward.api.identity_admin import app_creds, projects, roles, users

router = APIRouter(prefix="/identity/v3", tags=["identity"])
for module in (users, projects, roles, app_creds):
    router.include_router(module.router)
