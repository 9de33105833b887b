from tokenway.emulator.catalog import find_model, models_payload

IDS = [
    "meta-llama/llama-3.1-8b-instruct/fp-16",
    "meta-llama/llama-3.2-3b-instruct/fp-16",
    "mistralai/mistral-nemo-12b-instruct/fp-8",
]


def test_the_catalog_is_exactly_the_three_2025_models() -> None:
    payload = models_payload(include_pricing=False)
    assert payload["object"] == "list"
    assert [entry["id"] for entry in payload["data"]] == IDS
    assert all(entry["object"] == "model" for entry in payload["data"])
    assert all("pricing" not in entry for entry in payload["data"])


def test_pricing_extra_states_context_and_prices() -> None:
    entries = {e["id"]: e for e in models_payload(include_pricing=True)["data"]}
    assert all(e["context_length"] == 16_384 for e in entries.values())
    nemo = entries["mistralai/mistral-nemo-12b-instruct/fp-8"]["pricing"]
    assert (nemo["input_per_million"], nemo["output_per_million"]) == (0.04, 0.10)
    assert entries["meta-llama/llama-3.2-3b-instruct/fp-16"]["pricing"]["input_per_million"] == 0.02
    assert (
        entries["meta-llama/llama-3.1-8b-instruct/fp-16"]["pricing"]["completion"] == "0.00000003"
    )


def test_the_precision_suffix_is_part_of_the_id() -> None:
    assert find_model("meta-llama/llama-3.1-8b-instruct/fp-16") is not None
    assert find_model("meta-llama/llama-3.1-8b-instruct") is None
    assert find_model("meta-llama/llama-3.1-8b-instruct/fp-8") is None


def test_the_embedding_model_is_served_by_id_but_not_listed() -> None:
    card = find_model("qwen/qwen3-embedding-4b")
    assert card is not None and (card.kind, card.dimensions) == ("embedding", 2560)
    assert "pricing" not in card.to_dict(include_pricing=True)  # no documented price
    assert find_model("meta-llama/llama-3.1-8b-instruct/fp-16").kind == "chat"  # type: ignore[union-attr]
