import pytest

from tokenway import completion_cost
from tokenway.catalog import Catalog, ModelInfo, cost_of


def test_bundled_models_and_prices_per_million() -> None:
    catalog = Catalog()
    assert len(catalog.names()) == 4
    nemo = catalog.get("inference/mistralai/mistral-nemo-12b-instruct/fp-8")
    assert nemo is not None and nemo.context_window == 16384 and nemo.supports_tools
    assert cost_of(nemo, 1_000_000, 1_000_000) == pytest.approx(0.04 + 0.10)
    small = catalog.get("inference/meta-llama/llama-3.2-3b-instruct/fp-16")
    assert cost_of(small, 500_000, 500_000) == pytest.approx(0.02)


def test_unknown_model_costs_none() -> None:
    assert Catalog().get("inference/unknown") is None
    assert cost_of(None, 10, 10) is None


def test_register_and_partial_update() -> None:
    catalog = Catalog()
    catalog.register("openai_compatible/x", {"input_cost_per_token": 1e-6, "max_tokens": 4096})
    info = catalog.get("openai_compatible/x")
    assert info == ModelInfo(context_window=4096, input_cost_per_token=1e-6)
    catalog.register(
        "inference/meta-llama/llama-3.1-8b-instruct/fp-16", {"output_cost_per_token": 1}
    )
    updated = catalog.get("inference/meta-llama/llama-3.1-8b-instruct/fp-16")
    assert updated is not None and updated.output_cost_per_token == 1.0
    assert updated.input_cost_per_token == 3e-08 and updated.context_window == 16384


def test_per_call_prices_override() -> None:
    info = Catalog().get("inference/meta-llama/llama-3.1-8b-instruct/fp-16")
    assert cost_of(info, 10, 10, input_cost_per_token=1.0, output_cost_per_token=2.0) == 30.0
    assert cost_of(None, 10, 10, input_cost_per_token=1.0) == 10.0


def test_the_embedding_model_has_a_mode_a_vector_size_and_no_invented_price() -> None:
    catalog = Catalog()
    info = catalog.get("inference/qwen/qwen3-embedding-4b")
    assert info is not None and (info.mode, info.output_vector_size) == ("embedding", 2560)
    assert info.input_cost_per_token is None and info.context_window is None
    assert cost_of(info, 1000, 0) is None  # no documented price: unknown, not zero
    assert completion_cost(model="inference/qwen/qwen3-embedding-4b", prompt_tokens=10) is None
    chat = catalog.get("inference/meta-llama/llama-3.1-8b-instruct/fp-16")
    assert chat is not None and (chat.mode, chat.output_vector_size) == ("chat", None)


def test_embedding_usage_costs_prompt_tokens_only_once_priced() -> None:
    catalog = Catalog()
    catalog.register("inference/qwen/qwen3-embedding-4b", {"input_cost_per_token": 2e-8})
    info = catalog.get("inference/qwen/qwen3-embedding-4b")
    assert info is not None and info.mode == "embedding"  # a partial update keeps the mode
    assert cost_of(info, 1_000_000, 0) == pytest.approx(0.02)
