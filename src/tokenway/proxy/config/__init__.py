"""The proxy's configuration: a LiteLLM-style ``config.yaml`` loaded into typed settings."""

from tokenway.proxy.config.loader import (
    ConfigError,
    DeploymentConfig,
    ProxyConfig,
    StartupError,
    load_config,
    parse_config,
)

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "ProxyConfig",
    "StartupError",
    "load_config",
    "parse_config",
]
