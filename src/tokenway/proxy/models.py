"""The served models: public aliases → groups of upstream routes, resolved once at start.

Everything a request needs about its upstream (URL, headers, prices, the bytes of the
model name to rewrite, its limits) is computed here, so the hot path only looks it up.
Each ``Route`` is one deployment; the router (``tokenway.router``) picks among a group's.

Timeouts when the config sets none: the SDK's 600 s (the openai SDK's) is too long for a
server, where a hung upstream holds a client socket and an upstream socket that long.
``PROXY_TIMEOUT`` bounds a whole call (retries included) and so a plain answer, whose
first byte comes only once it is generated: 300 s covers a long answer (8k tokens at
30 tokens/s is 270 s). A stream is bounded by its silence instead, not its length:
``STREAM_IDLE_TIMEOUT`` between two reads (nginx's ``proxy_read_timeout`` is 60 s); a
deployment's ``stream_timeout`` or ``timeout`` replaces it. Connecting is bounded by the
HTTP client's 10 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import orjson

from tokenway.catalog import Catalog, ModelInfo, cost_of
from tokenway.errors import NotFoundError
from tokenway.providers.base import BODY_FIELDS, PATHS, Deployment, Provider
from tokenway.providers.registry import get_provider
from tokenway.proxy.config import DeploymentConfig, ProxyConfig, StartupError
from tokenway.proxy.config.settings import PROXY_TIMEOUT, STREAM_IDLE_TIMEOUT
from tokenway.proxy.usage import Usage
from tokenway.retry import Backoff
from tokenway.router import DeploymentLimits, RoutingEngine
from tokenway.router.patterns import Pattern, is_pattern, substitute
from tokenway.router.state import RouterState

WILDCARD_CACHE = 1024  # concrete routes a wildcard deployment keeps, by requested model


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    model: str  # provider/upstream-id as configured
    upstream_model: str
    provider: Provider
    url: str
    headers: list[tuple[str, str]]
    stream_headers: list[tuple[str, str]]
    timeout: float  # an attempt's bound (and a probe's), within the call's
    stream_idle_timeout: float  # the longest silence between two reads of a stream
    info: ModelInfo | None
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    # exact JSON forms of "model" in upstream chunks, and their replacement
    model_fields: tuple[bytes, bytes]
    alias_field: bytes
    deployment_id: str  # model_info.id
    api_base: str
    limits: DeploymentLimits
    # Per upstream path (``providers.base.PATHS``): its URL, and every body field it takes.
    urls: Mapping[str, str] = field(default_factory=dict, repr=False)
    accepts: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # Parameters it does not take are dropped (drop_params), else refused with a 400;
    # ``drops`` (additional_drop_params) are dropped whatever drop_params says.
    drop_params: bool = False
    drops: frozenset[str] = frozenset()
    # What it serves ("chat", "embedding", "completion"): model_info.mode, else the
    # catalog's; only /health reads it (a request's path picks its endpoint).
    mode: str = "chat"
    secrets: tuple[str, ...] = ()  # the credentials it sends, never to be relayed or logged
    num_retries: int | None = None  # litellm_params.num_retries: its group's retries
    region: str | None = None  # litellm_params.region_name (end users' allowed_model_region)
    # A wildcard deployment (model_name "*" or "inference/*"): the router picks this
    # template, and the attempt sends with ``wildcard.route(name)``, its concrete twin.
    wildcard: Wildcard | None = field(default=None, repr=False, compare=False)

    @property
    def group(self) -> str:
        return self.alias

    def cost(self, usage: Usage) -> float | None:
        return cost_of(
            self.info,
            usage.prompt,
            usage.completion,
            self.input_cost_per_token,
            self.output_cost_per_token,
        )


class Wildcard:
    """Makes the concrete route of a wildcard deployment for one requested model: the
    alias is the requested name, and what each ``*`` matched replaces the ``*`` of the
    upstream model. Made once per name (at most ``WILDCARD_CACHE`` kept, since clients
    choose the names), sharing the template's deployment id and so its limits, cooldown
    and stats."""

    def __init__(
        self,
        cfg: DeploymentConfig,
        env: Mapping[str, str],
        catalog: Catalog,
        default_timeout: float | None,
        drop_params: bool = False,
    ) -> None:
        self._cfg = cfg
        self._env, self._catalog, self._default_timeout = env, catalog, default_timeout
        self._drop_params = drop_params
        self._pattern = Pattern.of(cfg.model_name)
        self._routes: dict[str, Route] = {}

    def route(self, name: str) -> Route:
        found = self._routes.get(name)
        if found is None:
            captures = self._pattern.captures(name) or (name,)
            upstream = substitute(self._cfg.upstream_model, captures)
            provider = self._cfg.provider.name
            cfg = replace(
                self._cfg, model_name=name, model=f"{provider}/{upstream}", upstream_model=upstream
            )
            if len(self._routes) >= WILDCARD_CACHE:
                self._routes.clear()
            found = _route(cfg, self._env, self._catalog, self._default_timeout, self._drop_params)
            self._routes[name] = found
        return found


class ModelTable:
    """The served groups: each alias with its routes, in config order."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._groups: dict[str, list[Route]] = {}
        for route in routes:
            self._groups.setdefault(route.alias, []).append(route)

    def group(self, alias: str) -> list[Route]:
        group = self._groups.get(alias)
        if group is None:
            served = ", ".join(self._groups) or "none"
            raise NotFoundError(
                f"model '{alias}' is not served here; served models: {served}",
                param="model",
                code="model_not_found",
            )
        return group

    def names(self) -> list[str]:
        """Every group's name, a wildcard's pattern included (what a key may be limited to)."""
        return list(self._groups)

    def aliases(self) -> list[str]:
        """The explicit aliases (a wildcard's pattern is not a model a client can name)."""
        return [alias for alias in self._groups if not is_pattern(alias)]


def build_router(
    config: ProxyConfig,
    routes: Sequence[Route],
    backoff: Backoff | None = None,
    state: RouterState | None = None,
) -> RoutingEngine[Route]:
    """The routing engine over ``routes``, set up from the config's router settings."""
    settings = config.router if backoff is None else replace(config.router, backoff=backoff)
    try:
        return RoutingEngine(routes, settings, state=state, wildcards=True)
    except ValueError as err:
        raise StartupError(f"router_settings: {err}") from None


def build_routes(
    deployments: tuple[DeploymentConfig, ...],
    env: Mapping[str, str],
    catalog: Catalog,
    default_timeout: float | None,
    drop_params: bool = False,
) -> list[Route]:
    """``drop_params``: litellm_settings' (a deployment's own litellm_params win)."""
    routes = []
    for cfg in deployments:
        route = _route(cfg, env, catalog, default_timeout, drop_params)
        if is_pattern(cfg.model_name):
            wildcard = Wildcard(cfg, env, catalog, default_timeout, drop_params)
            route = replace(route, wildcard=wildcard)
        routes.append(route)
    return routes


def _route(
    cfg: DeploymentConfig,
    env: Mapping[str, str],
    catalog: Catalog,
    default_timeout: float | None,
    drop_params: bool = False,
) -> Route:
    spec = cfg.provider
    api_base = cfg.api_base or (env.get(spec.api_base_env) if spec.api_base_env else None)
    api_base = api_base or spec.api_base
    if not api_base:
        raise StartupError(f"model '{cfg.model_name}': provider '{spec.name}' needs api_base")
    api_key = cfg.api_key or (env.get(spec.api_key_env) if spec.api_key_env else None)
    if not api_key and spec.key_required:
        raise StartupError(
            f"model '{cfg.model_name}': no API key; set api_key in its litellm_params "
            f"or export {spec.api_key_env}"
        )
    if spec.dialect != "openai":  # the relay and the answers are OpenAI's (see pipeline)
        raise StartupError(
            f"model '{cfg.model_name}': provider '{spec.name}' speaks the {spec.dialect} "
            "dialect, which the proxy cannot relay yet"
        )
    provider = get_provider(spec)
    deployment = Deployment(spec, cfg.upstream_model, api_base, api_key)
    plain = provider.build_request({}, deployment)
    streamed = provider.build_request({"stream": True}, deployment)
    quoted = orjson.dumps(cfg.upstream_model)
    info = catalog.get(cfg.model)
    return Route(
        alias=cfg.model_name,
        model=cfg.model,
        upstream_model=cfg.upstream_model,
        provider=provider,
        url=plain.url,
        headers=plain.headers,
        stream_headers=streamed.headers,
        timeout=cfg.timeout or default_timeout or PROXY_TIMEOUT,
        stream_idle_timeout=_number(cfg.extra_litellm_params.get("stream_timeout"))
        or cfg.timeout
        or default_timeout
        or STREAM_IDLE_TIMEOUT,
        info=info,
        input_cost_per_token=cfg.input_cost_per_token,
        output_cost_per_token=cfg.output_cost_per_token,
        model_fields=(b'"model":' + quoted, b'"model": ' + quoted),
        alias_field=b'"model":' + orjson.dumps(cfg.model_name),
        deployment_id=str(cfg.model_info["id"]),
        api_base=api_base,
        limits=_limits(cfg, info),
        urls={path: provider.build_request({}, deployment, path).url for path in PATHS},
        accepts=_accepts(cfg, provider),
        drop_params=_flag(cfg.extra_litellm_params.get("drop_params"), drop_params),
        drops=frozenset(_names(cfg.extra_litellm_params.get("additional_drop_params"))),
        mode=str(cfg.model_info.get("mode") or (info.mode if info else "chat")),
        secrets=_secrets(api_key, plain.headers),
        num_retries=_whole(cfg.extra_litellm_params.get("num_retries")),
        region=_text(cfg.extra_litellm_params.get("region_name")),
    )


def _text(value: object) -> str | None:
    return value if type(value) is str and value else None


def _whole(value: object) -> int | None:
    return value if type(value) is int else None


def _accepts(cfg: DeploymentConfig, provider: Provider) -> dict[str, frozenset[str]]:
    """Per path: the body's fields, the provider's parameters, and the deployment's
    ``allowed_openai_params`` (parameters its server takes that the provider's table
    lacks), less its ``additional_drop_params``."""
    allowed = frozenset(_names(cfg.extra_litellm_params.get("allowed_openai_params")))
    dropped = frozenset(_names(cfg.extra_litellm_params.get("additional_drop_params")))
    spec = provider.spec
    return {path: (BODY_FIELDS[path] | spec.params_for(path) | allowed) - dropped for path in PATHS}


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _flag(value: object, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _secrets(api_key: str | None, headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The key and every credential header's value (a short one would match too much)."""
    found = {api_key} if api_key else set()
    for name, value in headers:
        if name.lower() in ("authorization", "api-key", "x-api-key"):
            found.add(value.partition(" ")[2] or value)
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


def _limits(cfg: DeploymentConfig, info: ModelInfo | None) -> DeploymentLimits:
    extra = cfg.extra_litellm_params
    window = cfg.model_info.get("max_input_tokens") or (info.context_window if info else None)
    return DeploymentLimits(
        rpm=cfg.rpm,
        tpm=cfg.tpm,
        weight=_number(extra.get("weight")),
        max_parallel_requests=_int(extra.get("max_parallel_requests")),
        timeout=cfg.timeout,
        context_window=_int(window),
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    number = _number(value)
    return int(number) if number else None


def access_groups(deployments: Sequence[DeploymentConfig]) -> dict[str, frozenset[str]]:
    """LiteLLM's access groups: each ``model_info.access_groups`` name → the aliases of
    the deployments that list it. A key, user or team whose ``models`` names a group may
    use every alias in it."""
    groups: dict[str, set[str]] = {}
    for cfg in deployments:
        for group in _names(cfg.model_info.get("access_groups")):
            groups.setdefault(group, set()).add(cfg.model_name)
    return {group: frozenset(aliases) for group, aliases in groups.items()}
