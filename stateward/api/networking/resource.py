"""One controller for every Neutron resource, driven by its attribute map.

Neutron describes each resource with an attribute map (``RESOURCE_ATTRIBUTE_MAP``): for each
attribute whether a client may set it on create (``allow_post``) or update (``allow_put``), how
its value is validated and converted, its default, whether responses show it (``is_visible``),
whether lists may filter on it (``is_filter``) and whether setting or seeing it needs its own
policy rule (``enforce_policy``: ``create_network:shared``, ``get_router:ha``). Its generic
``Controller`` turns that map into list / show / create / update / delete plus member actions
(``PUT /routers/{id}/add_router_interface``). This module is that controller: a resource is a
``Resource`` (its map, its use cases, its view, a few hooks) and ``Controller.install`` adds its
routes. Every handler is the same: authenticate, validate at the edge, check policy, call one use
case, shape the answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stateward.api.body import anything, json_body, resource_body
from stateward.api.deps import ensure_visible, get_project_context, get_runtime, target, visible_to
from stateward.api.listing import list_response, parse_list_query, select_fields
from stateward.domain.errors import Forbidden, InvalidInput, NotFound
from stateward.domain.identity import AuthContext
from stateward.runtime import Runtime
from stateward.services.network import ResourceUseCases, not_found

Converter = Callable[[str, Any], Any]
QueryConverter = Callable[[str], Any]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # Neutron's ATTR_NOT_SPECIFIED: the client left the attribute out


@dataclass(frozen=True)
class Attribute:
    """One entry of a resource's attribute map (Neutron's shape)."""

    validate: Converter = anything  # checks the client's value and returns it converted
    allow_post: bool = False
    allow_put: bool = False
    required: bool = False  # a create must name it
    default: Any = UNSET  # filled in on create when the client left it out
    convert: Callable[[Any], Any] | None = None  # applied before ``validate`` (convert_to)
    is_visible: bool = True
    is_filter: QueryConverter | None = None  # how a list query's value parses; None: no filter
    enforce_policy: bool = False  # setting it needs "<action>_<resource>:<name>"
    visible_policy: bool = False  # seeing it needs "get_<resource>:<name>"
    sub_policies: tuple[str, ...] = ()  # keys of a dict value with their own rule

    def parse(self, name: str, value: Any) -> Any:
        if self.convert is not None:
            value = self.convert(value)
        return self.validate(name, value)


AttributeMap = Mapping[str, Attribute]

READ_ONLY = Attribute()


def validate_create(body: Mapping[str, Any], attrs: AttributeMap) -> dict[str, Any]:
    """The attributes of a create: unknown ones and ones not allowed on POST are a 400."""
    unknown = sorted(k for k in body if k not in attrs)
    if unknown:
        raise InvalidInput(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    result: dict[str, Any] = {}
    for name, attr in attrs.items():
        if name in body:
            if not attr.allow_post:
                raise InvalidInput(f"Attribute '{name}' not allowed in POST")
            result[name] = attr.parse(name, body[name])
        elif attr.required:
            raise InvalidInput(
                f"Failed to parse request. Required attribute '{name}' not specified"
            )
        elif attr.default is not UNSET:
            result[name] = attr.default
    return result


def validate_update(
    body: Mapping[str, Any], attrs: AttributeMap, current: Mapping[str, Any]
) -> dict[str, Any]:
    """Changes to apply; read-only attributes are accepted only when echoed back unchanged
    (OpenStack clients send the whole resource back on update)."""
    unknown = sorted(k for k in body if k not in attrs and k not in current)
    if unknown:
        raise InvalidInput(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    result: dict[str, Any] = {}
    for name, value in body.items():
        attr = attrs.get(name)
        if attr is not None and attr.allow_put:
            result[name] = attr.parse(name, value)
        elif name in current and current[name] == value:
            continue
        else:
            raise InvalidInput(f"Cannot update read-only attribute {name}")
    return result


def filters_of(attrs: AttributeMap) -> dict[str, QueryConverter]:
    return {name: a.is_filter for name, a in attrs.items() if a.is_filter is not None}


def owner_project(ctx: AuthContext, runtime: Runtime, attrs: dict[str, Any], action: str) -> str:
    """The project a new resource belongs to: the caller's, or another one an admin names."""
    requested = attrs.pop("project_id", None) or attrs.pop("tenant_id", None)
    attrs.pop("tenant_id", None)
    if requested and requested != ctx.project_id:
        runtime.policy.enforce(f"{action}:tenant_id", ctx, target(requested))
        return str(requested)
    assert ctx.project_id is not None
    return ctx.project_id


def body_schema(key: str, attrs: AttributeMap) -> dict[str, Any]:
    """OpenAPI for a Neutron body, derived from its attribute map (clients and fuzzers see it)."""
    writable = [n for n, a in attrs.items() if a.allow_post or a.allow_put]
    schema = {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "object", "properties": {name: {} for name in writable}}},
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# A hook run on a create after validation: (runtime, caller, owner project, attributes).
CreateCheck = Callable[[Runtime, AuthContext, str, dict[str, Any]], Awaitable[None]]
# A member action: (runtime, caller, the resource, the request body) -> the answer.
ActionHandler = Callable[[Runtime, AuthContext, Any, Any], Awaitable[Any]]
ListExtras = Callable[[Request], dict[str, Any]]


@dataclass(frozen=True)
class CrossProject:
    """Callers with one of ``roles`` may update ``attributes`` of another project's resource
    (a controller reporting a port's status, Doctor's integrator its data-plane status)."""

    roles: tuple[str, ...]
    attributes: frozenset[str]


@dataclass(frozen=True)
class MemberAction:
    """``<method> /v2.0/<collection>/{id}/<name>``, checked against the policy rule ``name``."""

    name: str
    handler: ActionHandler
    method: str = "PUT"
    status_code: int = 200


@dataclass
class Resource:
    """Everything the generic controller needs to know about one resource."""

    name: str  # "network": the body key and the policy rules' suffix
    collection: str  # "networks"
    label: str  # "Network": NotFound messages and kinds
    attributes: AttributeMap
    use_cases: Callable[[Runtime], ResourceUseCases[Any]]
    view: Callable[[Any], dict[str, Any]]
    shared: Callable[[Any], bool] = lambda _obj: False  # seen by every project
    check_create: CreateCheck | None = None
    cross_project: CrossProject | None = None
    list_extras: ListExtras | None = None
    ignored_filters: tuple[str, ...] = ()
    member_actions: list[MemberAction] = field(default_factory=list)

    @property
    def id_param(self) -> str:
        return f"{self.name}_id"


def _endpoint(
    name: str, call: Callable[..., Awaitable[Any]], id_param: str | None = None
) -> Callable[..., Awaitable[Any]]:
    """A FastAPI endpoint with the resource's own path parameter name (``network_id``)."""
    params = []
    if id_param:
        params.append(inspect.Parameter(id_param, inspect.Parameter.KEYWORD_ONLY, annotation=str))
    params += [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter(
            "ctx",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=AuthContext,
            default=Depends(get_project_context),
        ),
        inspect.Parameter(
            "runtime",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Runtime,
            default=Depends(get_runtime),
        ),
    ]

    async def endpoint(**kwargs: Any) -> Any:
        resource_id = kwargs.pop(id_param) if id_param else None
        return await call(resource_id, **kwargs)

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = name
    endpoint.__doc__ = call.__doc__
    return endpoint


class Controller:
    """List / show / create / update / delete (and member actions) of one resource."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.filters = filters_of(resource.attributes)

    # shared steps ---------------------------------------------------------------------------
    def not_found(self, resource_id: str) -> NotFound:
        return not_found(self.resource.label, resource_id)

    async def visible(self, runtime: Runtime, ctx: AuthContext, resource_id: str) -> Any:
        """The resource if the caller may see it; another project's is a 404, never a 403."""
        obj = await self.resource.use_cases(runtime).get(resource_id)
        ensure_visible(
            ctx, obj.project_id, self.not_found(resource_id), shared=self.resource.shared(obj)
        )
        return obj

    def render(self, runtime: Runtime, ctx: AuthContext, obj: Any) -> dict[str, Any]:
        """The view without what the map hides or the caller's policy may not see."""
        view = self.resource.view(obj)
        for name, attr in self.resource.attributes.items():
            if name not in view:
                continue
            if not attr.is_visible or (
                attr.visible_policy
                and not runtime.policy.allowed(
                    f"get_{self.resource.name}:{name}", ctx, target(obj.project_id)
                )
            ):
                del view[name]
        return view

    def check_policies(
        self,
        runtime: Runtime,
        ctx: AuthContext,
        action: str,
        attrs: Mapping[str, Any],
        project_id: str,
    ) -> None:
        """The action's rule, then the rule of each attribute set that enforces one."""
        tgt = target(project_id)
        runtime.policy.enforce(action, ctx, tgt)
        for name, value in attrs.items():
            attr = self.resource.attributes.get(name)
            if attr is None or not attr.enforce_policy:
                continue
            runtime.policy.enforce(f"{action}:{name}", ctx, tgt)
            if isinstance(value, Mapping):
                for sub in attr.sub_policies:
                    if sub in value:
                        runtime.policy.enforce(f"{action}:{name}:{sub}", ctx, tgt)

    # the operations -------------------------------------------------------------------------
    async def index(
        self, _id: None, *, request: Request, ctx: AuthContext, runtime: Runtime
    ) -> dict[str, Any]:
        res = self.resource
        query = parse_list_query(request, self.filters, ignored=res.ignored_filters)
        filters = query.filters
        if "project_id" in filters and "tenant_id" in filters:
            filters.pop("tenant_id")
        extras = res.list_extras(request) if res.list_extras else {}
        items = await res.use_cases(runtime).list(
            filters, visible_to=visible_to(ctx), limit=query.limit, marker=query.marker, **extras
        )
        views = [self.render(runtime, ctx, obj) for obj in items]
        return list_response(request, res.collection, views, query)

    async def show(
        self, resource_id: str, *, request: Request, ctx: AuthContext, runtime: Runtime
    ) -> dict[str, Any]:
        query = parse_list_query(request, {})
        obj = await self.visible(runtime, ctx, resource_id)
        return {self.resource.name: select_fields(self.render(runtime, ctx, obj), query.fields)}

    async def create(
        self, _id: None, *, request: Request, ctx: AuthContext, runtime: Runtime
    ) -> dict[str, Any]:
        res = self.resource
        body = resource_body(await json_body(request), res.name)
        attrs = validate_create(body, res.attributes)
        action = f"create_{res.name}"
        project = owner_project(ctx, runtime, attrs, action)
        if res.check_create is not None:
            await res.check_create(runtime, ctx, project, attrs)
        self.check_policies(runtime, ctx, action, attrs, project)
        obj = await res.use_cases(runtime).create(project, attrs)
        return {res.name: self.render(runtime, ctx, obj)}

    async def update(
        self, resource_id: str, *, request: Request, ctx: AuthContext, runtime: Runtime
    ) -> dict[str, Any]:
        res = self.resource
        body = resource_body(await json_body(request), res.name)
        cross = res.cross_project
        if ctx.is_admin or (cross and any(ctx.has_role(r) for r in cross.roles)):
            obj = await res.use_cases(runtime).get(resource_id)
        else:
            obj = await self.visible(runtime, ctx, resource_id)
        changes = validate_update(body, res.attributes, res.view(obj))
        if not ctx.is_admin and ctx.project_id != obj.project_id:
            allowed = cross.attributes if cross else frozenset()
            foreign = sorted(set(changes) - allowed)
            if foreign:
                raise Forbidden(
                    f"Policy doesn't allow update_{res.name}:{foreign[0]} to be performed."
                )
        self.check_policies(runtime, ctx, f"update_{res.name}", changes, obj.project_id)
        updated = await res.use_cases(runtime).update(resource_id, changes)
        return {res.name: self.render(runtime, ctx, updated)}

    async def delete(
        self, resource_id: str, *, request: Request, ctx: AuthContext, runtime: Runtime
    ) -> Response:
        obj = await self.visible(runtime, ctx, resource_id)
        runtime.policy.enforce(f"delete_{self.resource.name}", ctx, target(obj.project_id))
        await self.resource.use_cases(runtime).delete(resource_id)
        return Response(status_code=204)

    def _action(self, action: MemberAction) -> Callable[..., Awaitable[Any]]:
        async def call(
            resource_id: str, *, request: Request, ctx: AuthContext, runtime: Runtime
        ) -> Any:
            obj = await self.visible(runtime, ctx, resource_id)
            runtime.policy.enforce(action.name, ctx, target(obj.project_id))
            raw = await request.body()
            body = await json_body(request) if raw else {}
            return await action.handler(runtime, ctx, obj, body)

        call.__doc__ = action.handler.__doc__
        return call

    # routes ---------------------------------------------------------------------------------
    def install(self, router: APIRouter) -> None:
        res = self.resource
        base = f"/v2.0/{res.collection}"
        item = f"{base}/{{{res.id_param}}}"
        schema = body_schema(res.name, res.attributes)
        router.add_api_route(base, _endpoint(f"list_{res.collection}", self.index), methods=["GET"])
        router.add_api_route(
            base,
            _endpoint(f"create_{res.name}", self.create),
            methods=["POST"],
            status_code=201,
            openapi_extra=schema,
        )
        router.add_api_route(
            item, _endpoint(f"show_{res.name}", self.show, res.id_param), methods=["GET"]
        )
        router.add_api_route(
            item,
            _endpoint(f"update_{res.name}", self.update, res.id_param),
            methods=["PUT"],
            openapi_extra=schema,
        )
        router.add_api_route(
            item,
            _endpoint(f"delete_{res.name}", self.delete, res.id_param),
            methods=["DELETE"],
            status_code=204,
        )
        for action in res.member_actions:
            router.add_api_route(
                f"{item}/{action.name}",
                _endpoint(action.name, self._action(action), res.id_param),
                methods=[action.method],
                status_code=action.status_code,
            )
