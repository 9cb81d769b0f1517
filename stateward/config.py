"""One settings object for every role, read from TOML, the environment and flags.

Precedence, highest first: explicit overrides (CLI flags), ``STATEWARD_<SECTION>__<KEY>``
environment variables, the TOML file given with ``--config``, then the defaults here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""


class Section(BaseModel):
    """A config section: unknown keys are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(9696, ge=1, le=65535)
    public_url: str | None = Field(
        None, description="Base URL put in the service catalog; derived from requests if unset."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024)
    region: str = "RegionOne"


class DatabaseConfig(Section):
    url: str | None = Field(
        None, description="SQLAlchemy URL; default is SQLite in the state directory."
    )
    pool_size: int = Field(10, ge=1)
    echo: bool = False


class BusConfig(Section):
    url: str = Field("memory://", description="memory:// (in-process) or nats://host:port")
    stream: str = "STATEWARD"
    subject_prefix: str = "stateward"
    dedup_window: float = Field(120.0, gt=0, description="JetStream duplicate window (s)")


class OutboxConfig(Section):
    sweep_interval: float = Field(1.0, gt=0, description="How often unsent rows are retried (s)")
    sent_retention: float = Field(3600.0, ge=0, description="How long sent rows are kept (s)")


class LeaseConfig(Section):
    ttl: float = Field(10.0, gt=0, description="A lease not renewed for this long expires (s)")
    renew_interval: float = Field(3.0, gt=0)

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> LeaseConfig:
        if self.renew_interval >= self.ttl:
            raise ValueError("renew_interval must be shorter than ttl")
        return self


class IdentityConfig(Section):
    token_expiration: int = Field(3600, ge=60, description="Token lifetime (s)")
    token_cache_seconds: float = Field(
        2.0, ge=0, description="How long a validated token is trusted without asking the store"
    )
    admin_password: SecretStr | None = Field(
        None,
        description="Password of the bootstrap admin at the first start; generated and written "
        "to <state_dir>/clouds.yaml if unset.",
    )
    password_min_length: int = Field(
        6,
        ge=1,
        le=128,
        description="Shortest password accepted for a user (empty or blank ones never are)",
    )
    password_regex: str | None = Field(
        None, description="A regular expression every new password must match (Keystone's)"
    )
    password_regex_description: str = Field(
        "", description="What password_regex requires, in words, shown when it is not met"
    )
    lockout_failure_attempts: int = Field(
        6,
        ge=0,
        description="Failed authentications in a row that lock a user (0: never, Keystone's "
        "lockout_failure_attempts)",
    )
    lockout_duration: float = Field(
        300.0, gt=0, description="How long a locked user stays locked (s)"
    )
    address_failure_limit: int = Field(
        30,
        ge=0,
        description="Failed authentications from one client address per address_failure_window "
        "before it gets 429 (0: no limit)",
    )
    address_failure_window: float = Field(60.0, gt=0, description="The throttling window (s)")

    @model_validator(mode="after")
    def _valid_regex(self) -> IdentityConfig:
        import re

        if self.password_regex is not None:
            try:
                re.compile(self.password_regex)
            except re.error as exc:
                raise ValueError(f"password_regex is not a regular expression: {exc}") from None
        return self


class PolicyConfig(Section):
    file: Path | None = Field(None, description="policy.yaml overriding the defaults in code")


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="auto: human-readable when standard error is a terminal, JSON lines otherwise",
    )
    file: Path | None = None


class NetworkConfig(Section):
    vxlan_vni_ranges: list[str] = ["1:100000"]
    geneve_vni_ranges: list[str] = ["1:100000"]
    gre_id_ranges: list[str] = ["1:100000"]
    vlan_ranges: list[str] = ["physnet1:100:4000"]
    default_network_type: Literal["vxlan", "geneve", "gre", "vlan", "flat"] = "vxlan"
    base_mac: str = "fa:16:3e:00:00:00"


class FeedConfig(Section):
    """The per-chassis agent feed (snapshot + ordered changes) agents read their view from."""

    retention: float = Field(
        3600.0,
        gt=0,
        description="Log entries older than this are pruned; agents further "
        "behind take a snapshot (s)",
    )
    max_wait: float = Field(60.0, ge=0, description="Longest long-poll the server holds (s)")
    page_limit: int = Field(5000, ge=1, description="Most changes in one answer")
    inline_max: int = Field(
        256,
        ge=0,
        description="Bigger batches are signalled without their changes (agents "
        "then fetch them over HTTP)",
    )
    prune_interval: float = Field(60.0, gt=0, description="How often old entries are pruned (s)")


class LocalServiceConfig(Section):
    """A local service supervised like Neutron's ProcessManager/ProcessMonitor."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    command: list[str] = Field(..., min_length=1, description="argv of the service")
    pid_file: Path | None = Field(default=None, description="Written with the pid while it runs")
    respawn: bool = Field(default=True, description="Start it again when it exits")
    respawn_delay: float = Field(
        default=1.0, ge=0, description="Wait this long before a respawn (s)"
    )


class LivenessConfig(Section):
    report_interval: float = Field(
        default=30.0, gt=0, description="How often agents report their timestamp and services (s)"
    )
    chassis_down_time: float = Field(
        default=75.0,
        gt=0,
        description="A chassis whose last report is older than this is down (s); must be "
        "more than twice report_interval",
    )
    restart_grace: float | None = Field(
        default=None,
        ge=0,
        description="After a (re)start of the deadline watcher, no chassis is declared down "
        "before this long (s); default chassis_down_time",
    )
    refuse_binding_to_dead_chassis: bool = Field(
        default=False,
        description="Refuse (409) a port binding to a down or unknown chassis instead of "
        "binding_failed",
    )
    batch_max: int = Field(
        default=2000, ge=1, description="Heartbeats written per transaction, at most"
    )
    batch_delay: float = Field(
        default=0.005,
        ge=0,
        description="How long the absorber collects heartbeats before a write (s)",
    )
    server_chassis: str | None = Field(
        default=None,
        description="Chassis name the server reports its own services under (hostname)",
    )
    services: list[LocalServiceConfig] = Field(
        default_factory=list, description="Services `stateward serve` supervises and reports"
    )

    @model_validator(mode="after")
    def _down_time_guard(self) -> LivenessConfig:
        if self.chassis_down_time <= 2 * self.report_interval:
            raise ValueError(
                f"chassis_down_time ({self.chassis_down_time}) must be more than twice "
                f"report_interval ({self.report_interval})"
            )
        return self

    @property
    def grace(self) -> float:
        return self.chassis_down_time if self.restart_grace is None else self.restart_grace


class AgentConfig(Section):
    """``stateward agent``: how it reaches and authenticates to the server."""

    server: list[str] = Field(default_factory=list, description="Server URLs, tried in order")
    chassis: str | None = None
    local_ip: str | None = None
    tunnel_types: list[str] = ["geneve", "vxlan", "gre"]
    username: str | None = None
    password: SecretStr | None = None
    project: str = "service"
    user_domain: str = "Default"
    project_domain: str = "Default"
    application_credential_id: str | None = None
    # the credential's secret; named "key" so that `config show` never prints the word secret
    application_credential_secret: SecretStr | None = None
    cloud: str | None = Field(default=None, description="clouds.yaml entry to authenticate with")
    transport: Literal["http", "nats"] | None = Field(
        default=None,
        description="Heartbeat transport; default nats when bus.url is NATS, else http",
    )
    external_ids: dict[str, str] = Field(
        default_factory=dict,
        description="Reported at registration: availability_zone, and capacity as vcpus, "
        "memory_mb, disk_gb (what the scheduler fits servers into)",
    )
    report_capacity: bool = Field(
        default=False,
        description="Report this machine's CPUs, memory and state-directory disk as capacity "
        "(unless external_ids gives them)",
    )
    jitter: float = Field(default=0.1, ge=0, le=0.5, description="Fraction of report_interval")
    max_backoff: float = Field(default=5.0, gt=0, description="Longest wait between retries (s)")
    services: list[LocalServiceConfig] = Field(default_factory=list)


class ComputeConfig(Section):
    host_down_server_state: Literal["error", "stopped", "unchanged"] = Field(
        "error",
        description="What forcing a host down does to its servers: 'error' (vm_state error, "
        "what Doctor's consumers alarm on), 'stopped' (vm_state stopped, power_state 4, the "
        "seed's example) or 'unchanged' (upstream Nova: forced_down only).",
    )


class SchedulerConfig(Section):
    """Where a server without a named host goes (Nova's filter-then-weigh scheduler)."""

    default_availability_zone: str = Field(
        "nova", min_length=1, description="Zone of a host whose chassis names none"
    )
    cpu_allocation_ratio: float = Field(4.0, gt=0, description="vCPUs per reported CPU")
    ram_allocation_ratio: float = Field(1.0, gt=0)
    disk_allocation_ratio: float = Field(1.0, gt=0)
    reserved_host_cpus: int = Field(0, ge=0)
    reserved_host_memory_mb: int = Field(512, ge=0)
    reserved_host_disk_mb: int = Field(0, ge=0)


class QuotaConfig(Section):
    """Limits per project (Nova, Neutron, Aodh): one engine, these defaults."""

    enforce: bool = Field(True, description="Refuse creations beyond a project's limits")
    defaults: dict[str, int] = Field(
        default_factory=dict,
        description="Default limits by resource (instances, cores, ram, network, port, ...), "
        "overriding the built-in ones; -1 is unlimited",
    )
    project_alarm_quota: int | None = Field(
        None, ge=-1, description="Alarms per project (Aodh's option); unset: unlimited"
    )
    user_alarm_quota: int | None = Field(
        None, ge=-1, description="Alarms per user (Aodh's option); unset: unlimited"
    )

    @model_validator(mode="after")
    def _valid_defaults(self) -> QuotaConfig:
        for name, value in self.defaults.items():
            if value < -1:
                raise ValueError(f"defaults.{name}: must be -1 (unlimited) or more")
        return self


class ImageConfig(Section):
    """The image catalog (Glance v2): where image data is kept and how big it may be."""

    store_path: Path | None = Field(
        None,
        description="Directory holding image data; default <state_dir>/images. Several server "
        "processes must share one (a shared filesystem).",
    )
    size_cap: int = Field(
        1_099_511_627_776, ge=1, description="Largest image accepted (bytes; Glance's 1 TiB)"
    )
    chunk_size: int = Field(65536, ge=1024, description="Read/write unit when streaming (bytes)")


class InspectorConfig(Section):
    enabled: bool = Field(True, description="Accept raw failures and react to chassis.down.")
    handle_chassis_down: bool = Field(
        True, description="Treat liveness' chassis.down as a raw failure of that host."
    )
    port_data_plane_down: bool = Field(
        True, description="On host down, set data_plane_status DOWN on the host's ports."
    )
    duplicate_window: float = Field(
        3600.0,
        gt=0,
        description="A raw failure repeating host, type, monitor and monitor_event_id within "
        "this many seconds is a duplicate (s).",
    )


class AlarmsConfig(Section):
    """Event alarms: the evaluator, the notifier and what actions may reach."""

    evaluate: bool = Field(True, description="Run the event alarm evaluator in this process")
    require_resource_id: bool = Field(
        False,
        description="Refuse event alarms without resource_id (the seed's option; Aodh clients "
        "cannot send it, so off by default)",
    )
    record_history: bool = True
    action_allow: list[str] | None = Field(
        None,
        description="An allow-list replacing the default policy: only these hosts or CIDRs "
        "may be reached by webhook actions; unset: the default policy (public addresses, "
        "plus action_open)",
    )
    action_open: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDRs opened on top of the default policy, which refuses "
        "loopback, link-local, unspecified, multicast and reserved addresses (and private "
        "ranges, see action_deny_private); e.g. ['127.0.0.0/8'] for a consumer on this host",
    )
    action_deny_private: bool = Field(
        True,
        description="The default policy also refuses private ranges (10/8, 172.16/12, "
        "192.168/16, 100.64/10, 198.18/15, fc00::/7) unless opened in action_open",
    )
    notifier_timeout: float = Field(5.0, gt=0, description="Per-attempt webhook timeout (s)")
    notifier_retries: int = Field(
        5,
        ge=0,
        description="Retries after a failed webhook (0.2+0.4+..+3.2 s: a receiver "
        "down for 6 s still gets it)",
    )
    notifier_backoff: float = Field(0.2, ge=0, description="First retry delay, doubled each time")
    notifier_max_backoff: float = Field(10.0, ge=0, description="Longest delay between retries")
    notifier_concurrency: int = Field(
        64, ge=1, description="Webhook requests in flight at most, all destinations together"
    )
    notifier_max_connections: int = Field(
        8,
        ge=1,
        description="Requests (so connections) in flight at most per destination (scheme, "
        "host, port); the window starts at 1 and adapts to the receiver (AIMD)",
    )
    notifier_max_actions: int = Field(
        10, ge=1, description="Distinct actions notified per alarm transition at most"
    )
    resync_interval: float = Field(
        300.0, ge=0, description="Full reload of the evaluator's index (s); 0 disables"
    )
    fire_memory: float = Field(
        3600.0,
        gt=0,
        description="How long (s) the store remembers which event fired which alarm, so a "
        "redelivered event (bus outage, process killed before acknowledging) never fires twice",
    )

    @model_validator(mode="after")
    def _valid_destinations(self) -> AlarmsConfig:
        import ipaddress

        for entry in [*(self.action_allow or []), *self.action_open]:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ValueError(f"action list: {entry!r} is not a CIDR: {exc}") from None
            elif not entry or " " in entry:
                raise ValueError(f"action list: {entry!r} is not a host name, address or CIDR")
        return self


class JournalConfig(Section):
    """Journal sync to an SDN controller (networking-odl v2's design); off by default."""

    enabled: bool = Field(False, description="Record network changes and sync them")
    url: str = Field(
        "http://127.0.0.1:8181/controller/nb/v2/neutron",
        description="Base URL of the controller's Neutron northbound",
    )
    username: str = "admin"
    password: SecretStr = SecretStr("admin")
    timeout: float = Field(10.0, gt=0, description="HTTP timeout per controller request (s)")
    sync_timeout: float = Field(10.0, gt=0, description="Periodic kick of the sync workers (s)")
    retry_count: int = Field(5, ge=1, description="Tries before a row is marked failed")
    processing_timeout: float = Field(
        100.0, gt=0, description="A row processing longer than this is reset to pending (s)"
    )
    maintenance_interval: float = Field(
        300.0, gt=0, description="Cleanup of completed rows and recovery of failed rows (s)"
    )
    maintenance_tick: float = Field(
        1.0, gt=0, description="How often maintenance checks stuck rows and sync requests (s)"
    )
    completed_rows_retention: float = Field(
        600.0, description="Completed rows are deleted after this (s); -1 keeps them"
    )
    full_sync_interval: float = Field(
        3600.0, gt=0, description="Scheduled full sync (s), besides cold start and outages"
    )
    max_in_flight: int = Field(
        64, ge=1, description="Rows one process has at the controller at once"
    )
    batch_size: int = Field(64, ge=1, description="Most rows claimed in one transaction")
    probe_interval: float = Field(10.0, gt=0, description="Connection probe period (s)")
    backoff_initial: float = Field(0.1, gt=0)
    backoff_max: float = Field(60.0, gt=0, description="Backoff cap after connection errors (s)")

    @model_validator(mode="after")
    def _backoff_order(self) -> JournalConfig:
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        return self


class ProfilerConfig(Section):
    """The performance profiler's recorder (checkpoints T00..T10 into the store)."""

    record: bool = Field(
        True,
        description="Write this process's checkpoint stamps to the store (they are always logged)",
    )
    flush_interval: float = Field(
        0.05, ge=0, le=60, description="How long stamps accumulate before one batched write (s)"
    )
    batch_size: int = Field(1000, ge=1, description="Most checkpoints written per transaction")
    queue_size: int = Field(
        100_000, ge=1, description="Stamps waiting to be written; beyond this they are dropped"
    )
    retention: float = Field(
        7 * 24 * 3600.0, gt=0, description="Profiles older than this are purged (s)"
    )
    purge_interval: float = Field(3600.0, gt=0, description="How often old profiles are purged")


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("stateward"))


class Settings(BaseSettings):
    """Every key can be set as ``STATEWARD_<SECTION>__<KEY>``."""

    model_config = SettingsConfigDict(
        env_prefix="STATEWARD_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    state_dir: Path = Field(default_factory=default_state_dir)
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    bus: BusConfig = BusConfig()
    outbox: OutboxConfig = OutboxConfig()
    lease: LeaseConfig = LeaseConfig()
    identity: IdentityConfig = IdentityConfig()
    policy: PolicyConfig = PolicyConfig()
    logging: LoggingConfig = LoggingConfig()
    network: NetworkConfig = NetworkConfig()
    liveness: LivenessConfig = LivenessConfig()
    compute: ComputeConfig = ComputeConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    quotas: QuotaConfig = QuotaConfig()
    image: ImageConfig = ImageConfig()
    inspector: InspectorConfig = InspectorConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    journal: JournalConfig = JournalConfig()
    feed: FeedConfig = FeedConfig()

    profiler: ProfilerConfig = ProfilerConfig()
    agent: AgentConfig = AgentConfig()

    _toml_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("_STATEWARD_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy async URL, defaulting to SQLite in the state directory."""
        url = self.database.url or f"sqlite:///{self.state_dir / 'stateward.db'}"
        return to_async_url(url)

    @property
    def image_store_path(self) -> Path:
        """Where image data lives: ``[image] store_path``, else ``<state_dir>/images``."""
        return self.image.store_path or self.state_dir / "images"

    @property
    def is_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")


def to_async_url(url: str) -> str:
    """Accept the URLs operators type and return the async driver's form."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, raising ConfigError with the bad key's dotted name.

    ``overrides`` use dotted keys (``database.url``) and ignore ``None`` values, so CLI
    flags left unset fall through to the environment and the file.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    init: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is not None:
            _set_path(init, key, value)
    previous = os.environ.get("_STATEWARD_CONFIG_FILE")
    try:
        if config_file is not None:
            os.environ["_STATEWARD_CONFIG_FILE"] = str(config_file)
        return Settings(**init)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            problems.append(f"{loc}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop("_STATEWARD_CONFIG_FILE", None)
            else:
                os.environ["_STATEWARD_CONFIG_FILE"] = previous


def _mask_url(url: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:****@host``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:****@{host}"


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (_mask_url(v) if isinstance(v, str) and k.endswith("url") else _mask(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_mask(v) for v in node]
    return node


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data: every secret field (SecretStr) shows as
    asterisks and passwords embedded in URLs are masked."""
    return dict(_mask(settings.model_dump(mode="json")))
