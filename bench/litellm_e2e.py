"""LiteLLM's own end-to-end proxy tests, run against tokenway (issue 13's measure).

    bench/litellm_e2e.py --tests <dir of LiteLLM's tests/test_*.py and proxy_server_config.yaml>

What it does, in order:

1. starts the Inference.net emulator on a free 127.0.0.1 port;
2. writes, in a temporary directory, a config made from LiteLLM's
   ``proxy_server_config.yaml`` in which every ``litellm_params`` entry points at the
   emulator (``model``, ``api_base``, ``api_key``; nothing else is changed), and starts
   ``tokenway --config`` with it on another free port, with a fresh SQLite store
   (``--database-url`` for another);
3. runs LiteLLM's tests with pytest FROM their directory (never copied): LiteLLM writes
   the proxy's address into each test (``http://0.0.0.0:4000``, a few
   ``localhost:4000``), so ``litellm_e2e_address.py``, a pytest plugin, changes only that
   address to tokenway's; ``from tests.x import ...`` finds the same directory through a
   ``tests`` symlink in the temporary directory;
4. prints pass/fail per test, the applicable and excluded lists (each exclusion with its
   reason) and the figure.

The tests need ``pytest==7.3.1 pytest-asyncio==0.21.1 pytest-timeout aiohttp openai
python-dotenv requests litellm[proxy]==1.100.5`` (a few files import LiteLLM): by default
the interpreter of ``bench/.venv-e2e`` (gitignored; ``--setup`` makes it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_emulator import emulator  # noqa: E402
from bench_procs import Proc, free_port, wait_ready  # noqa: E402

E2E_VENV = HERE / ".venv-e2e"
E2E_PACKAGES = [
    "pytest==7.3.1",
    "pytest-asyncio==0.21.1",
    "pytest-timeout",
    "aiohttp",
    "openai",
    "python-dotenv",
    "requests",
    "litellm[proxy]==1.100.5",
]
EMULATOR_KEY = "bench-key"  # bench_emulator's key
CHAT_MODEL = "meta-llama/llama-3.1-8b-instruct/fp-16"
EMBEDDING_MODEL = "qwen/qwen3-embedding-4b"
MASTER_KEY = "sk-1234"  # the config's and the tests'

# Files that are not about a proxy at all, or that need what no proxy but LiteLLM's has.
EXCLUDED_FILES = {
    "test_litellm_proxy_responses_config.py": "drives LiteLLM's SDK classes in-process",
    "test_resource_cleanup.py": "counts LiteLLM's in-process HTTP clients",
    "test_ratelimit.py": "drives LiteLLM's in-process Router",
    "test_callbacks_on_proxy.py": "reads LiteLLM's in-process callback list (/active/callbacks)",
    "test_entrypoint.py": "tests LiteLLM's docker entrypoint script",
    "test_config.py": "needs a real Langfuse account (LANGFUSE_* variables)",
    "test_team_logging.py": "needs a real Langfuse account (LANGFUSE_* variables)",
    "test_passthrough_endpoints.py": "forwards to api.cohere.com (a real cloud provider)",
    "test_debug_warning.py": "is empty",
}
# Single tests excluded from files that are otherwise run.
EXCLUDED_TESTS = {
    "test_openai_endpoints.py::test_chat_completion_anthropic_structured_output": (
        "needs a real Anthropic model behind the proxy"
    ),
    "test_models.py::test_add_model_run_health": (
        "runs a health check against a real OpenAI deployment"
    ),
    # Inference.net serves no image and no moderation model: tokenway answers these
    # endpoints with 404 unsupported_endpoint (tests/proxy/test_azure_route.py).
    "test_openai_endpoints.py::test_image_generation": "needs a real image model (DALL-E)",
    "test_keys.py::test_key_info_spend_values_image_generation": (
        "needs a real image model (DALL-E) to charge"
    ),
    "test_openai_endpoints.py::test_moderations_endpoint": (
        "needs a real moderation model (OpenAI's)"
    ),
    "test_models.py::test_add_and_delete_models": (
        "chats with the model it adds, openai/gpt-4.1-nano: a real OpenAI model (adding, "
        "serving and deleting a model is tested in tests/proxy/served)"
    ),
    "test_models.py::test_model_group_info_e2e": (
        "expects the Anthropic models LiteLLM's own model catalogue expands 'anthropic/*' "
        "into (a real cloud provider's model list)"
    ),
}


# Deployments LiteLLM's config points at an address that cannot answer (its fallback
# tests rely on that): they go to a closed loopback port instead of the emulator.
UNREACHABLE = {"badly-configured-openai-endpoint": "http://127.0.0.1:1/v1"}


def proxy_config(source: dict[str, Any], api_base: str, api_key: str) -> dict[str, Any]:
    """LiteLLM's config with each deployment's upstream pointed at the emulator (those of
    ``UNREACHABLE`` at a closed port)."""
    config = copy.deepcopy(source)
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        info = entry.get("model_info") or {}
        embedding = info.get("mode") == "embedding" or "embed" in entry["model_name"]
        # The emulator is Inference.net's, so its models go through that provider, which
        # the bundled catalog prices: LiteLLM's budget tests need requests that cost
        # something, as the Azure and OpenAI models of LiteLLM's config do. A wildcard
        # deployment ("*", "groq/*") too: whatever name a test sends, the emulator
        # answers as its chat model (it knows no other).
        upstream = EMBEDDING_MODEL if embedding else CHAT_MODEL
        base = UNREACHABLE.get(entry["model_name"], api_base)
        params.update(model=f"inference/{upstream}", api_base=base, api_key=api_key)
    return config


def collect(python: Path, tests_dir: Path, env: dict[str, str]) -> list[str]:
    """Every test id pytest finds in ``tests_dir``'s ``test_*.py``."""
    files = sorted(p.name for p in tests_dir.glob("test_*.py"))
    out = subprocess.run(
        [str(python), "-m", "pytest", "--collect-only", "-q", *_PYTEST_FLAGS, *files],
        cwd=tests_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    return [line.strip() for line in out.stdout.splitlines() if "::" in line]


_PYTEST_FLAGS = ["-p", "no:cacheprovider", "-p", "litellm_e2e_address"]


def exclusion(test_id: str) -> str | None:
    file = test_id.split("::", 1)[0]
    if file in EXCLUDED_FILES:
        return EXCLUDED_FILES[file]
    base = test_id.split("[", 1)[0]
    return EXCLUDED_TESTS.get(base)


def run_tests(
    python: Path, tests_dir: Path, ids: list[str], env: dict[str, str], report: Path, timeout: int
) -> dict[str, str]:
    """pytest over ``ids``; each id's outcome: passed, failed, error or skipped."""
    argv = [str(python), "-m", "pytest", *_PYTEST_FLAGS, "-q", f"--timeout={timeout}"]
    argv += [f"--junitxml={report}", "-o", "asyncio_mode=auto", *ids]
    subprocess.run(argv, cwd=tests_dir, env=env, stdout=sys.stderr, stderr=subprocess.STDOUT)
    return outcomes(report)


def outcomes(report: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        found[name] = next(
            (k for k in ("failure", "error", "skipped") if k in kinds), "passed"
        ).replace("failure", "failed")
    return found


@contextlib.contextmanager
def tokenway(
    config: dict[str, Any], work: Path, database_url: str | None, api_base: str
) -> Iterator[str]:
    path = work / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url or f"sqlite:///{work / 'e2e.db'}"}
    # Models the tests add through /model/new name OpenAI and its key variable: the
    # openai provider's address and key are the emulator's too.
    env.update(OPENAI_API_BASE=api_base, OPENAI_API_KEY=EMULATOR_KEY)
    # LiteLLM's config counts limits in Redis (router_settings.redis_*), as its CI runs it:
    # the machine's own Redis unless the environment names another.
    for name, value in (
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_PORT", "6379"),
        ("REDIS_PASSWORD", ""),
    ):
        env.setdefault(name, value)
    argv = [str(ROOT / ".venv/bin/tokenway"), "--config", str(path)]
    proc = Proc(
        "tokenway", [*argv, "--host", "127.0.0.1", "--port", str(port)], work / "proxy.log", env
    )
    try:
        wait_ready(proc, port, "/health/liveliness", 30.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def setup_venv() -> Path:
    python = E2E_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(E2E_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *E2E_PACKAGES], check=True)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", required=True, type=Path, help="LiteLLM's tests directory")
    parser.add_argument("--python", type=Path, default=E2E_VENV / "bin" / "python")
    parser.add_argument("--setup", action="store_true", help="make bench/.venv-e2e first")
    parser.add_argument("--database-url", help="the proxy's store (default: a fresh SQLite)")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test")
    parser.add_argument("-k", dest="only", help="run only ids containing this text")
    args = parser.parse_args()
    python = setup_venv() if args.setup else args.python
    tests_dir = args.tests.resolve()
    source = yaml.safe_load((tests_dir / "proxy_server_config.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="litellm-e2e-") as tmp:
        work = Path(tmp)
        (work / "tests").symlink_to(tests_dir)  # `from tests.large_text import text`
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(work)]),
            "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into the tests' directory
        }
        ids = collect(python, tests_dir, {**env, "LITELLM_E2E_PROXY": "http://127.0.0.1:1"})
        if not ids:
            raise SystemExit("no tests collected; is --python's venv set up (--setup)?")
        excluded = {i: r for i in ids if (r := exclusion(i)) is not None}
        applicable = [i for i in ids if i not in excluded and (not args.only or args.only in i)]
        with (
            emulator(pin=False) as (api_base, _),
            tokenway(
                proxy_config(source, api_base, EMULATOR_KEY), work, args.database_url, api_base
            ) as address,
        ):
            started = time.monotonic()
            env["LITELLM_E2E_PROXY"] = address
            results = run_tests(
                python, tests_dir, applicable, env, work / "junit.xml", args.timeout
            )
            elapsed = time.monotonic() - started
    skipped = [t for t in applicable if results.get(t) == "skipped"]
    excluded.update({t: "LiteLLM's own file skips it" for t in skipped})
    applicable = [t for t in applicable if t not in skipped]
    print_report(applicable, excluded, results, elapsed)
    return 0


def print_report(
    applicable: list[str], excluded: dict[str, str], results: dict[str, str], elapsed: float
) -> None:
    for test_id in applicable:
        print(f"{results.get(test_id, 'not run'):8} {test_id}")
    print("\nexcluded:")
    for test_id, reason in excluded.items():
        print(f"  {test_id}: {reason}")
    passed = sum(1 for t in applicable if results.get(t) == "passed")
    share = 100 * passed / len(applicable) if applicable else 0.0
    print(
        f"\n{passed} of {len(applicable)} applicable tests pass ({share:.0f} %); "
        f"{len(excluded)} excluded; {elapsed:.0f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
