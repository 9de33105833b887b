"""Where the proxy finds its Redis: LiteLLM's router_settings keys, else its variables."""

from __future__ import annotations

from typing import Any

from tests.proxy.config_helpers import model, parse, parse_problems

from tokenway.proxy.config.settings import RedisSettings


def redis_of(router: dict[str, Any] | None = None, **env: str) -> RedisSettings | None:
    data: dict[str, Any] = {"model_list": [model()]}
    if router is not None:
        data["router_settings"] = router
    return parse(data, INFERENCE_API_KEY="k", **env).redis


def test_without_redis_limits_stay_in_the_process() -> None:
    assert redis_of() is None
    assert redis_of({"routing_strategy": "simple-shuffle"}) is None


def test_host_port_password_and_db_make_the_url() -> None:
    settings = redis_of(
        {"redis_host": "10.0.0.5", "redis_port": 6380, "redis_password": "a:b@c", "redis_db": 2}
    )

    assert settings is not None
    assert settings.url == "redis://:a%3Ab%40c@10.0.0.5:6380/2"
    assert settings.key_prefix == "tokenway:"


def test_the_url_comes_before_the_host_and_the_variables() -> None:
    settings = redis_of(
        {"redis_url": "redis://r1:6379/1", "redis_host": "r2"},
        REDIS_URL="redis://r3:6379/0",
        REDIS_HOST="r4",
    )

    assert settings is not None and settings.url == "redis://r1:6379/1"


def test_the_config_comes_before_the_variables() -> None:
    settings = redis_of({"redis_host": "r2"}, REDIS_URL="redis://r3:6379/0")

    assert settings is not None and settings.url == "redis://r2:6379/0"


def test_the_variables_as_litellm_reads_them() -> None:
    by_url = redis_of(REDIS_URL="rediss://user:pw@r3:6379/0", REDIS_HOST="r4")
    by_host = redis_of(REDIS_HOST="r4", REDIS_PORT="7000", REDIS_PASSWORD="pw")

    assert by_url is not None and by_url.url == "rediss://user:pw@r3:6379/0"
    assert by_host is not None and by_host.url == "redis://:pw@r4:7000/0"


def test_a_key_prefix_of_its_own() -> None:
    settings = redis_of({"redis_host": "r", "redis_key_prefix": "gw-a:"})

    assert settings is not None and settings.key_prefix == "gw-a:"


def test_the_password_is_not_in_the_repr() -> None:
    settings = redis_of({"redis_host": "r", "redis_password": "sekrit-pw"})

    assert "sekrit-pw" not in repr(settings)


def test_bad_values_are_refused_by_path() -> None:
    found = parse_problems(
        {
            "model_list": [model()],
            "router_settings": {"redis_url": "http://r:6379", "redis_port": 0},
        },
        INFERENCE_API_KEY="k",
    )

    assert sorted(found) == [
        "router_settings.redis_port: must be a positive integer (got 0)",
        "router_settings.redis_url: must be a redis://, rediss:// or unix:// URL",
    ]


def test_while_redis_is_down_processes_count_on_their_own_unless_told_to_refuse() -> None:
    default = redis_of({"redis_url": "redis://r1:6379/0"})
    strict = redis_of({"redis_url": "redis://r1:6379/0", "redis_outage": "refuse"})

    assert default is not None and not default.refuse_on_outage
    assert strict is not None and strict.refuse_on_outage
    found = parse_problems(
        {"model_list": [model()], "router_settings": {"redis_outage": "refused"}}
    )
    assert any("redis_outage" in p and "did you mean 'refuse'" in p for p in found), found
