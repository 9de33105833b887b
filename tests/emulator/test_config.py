import pytest

from tokenway.emulator import EmulatorConfig, FaultConfig


def test_fault_config_round_trips_through_a_mapping() -> None:
    faults = FaultConfig(latency_ms=5, error_rate=0.25, error_status=503, stream_cut_after=3)
    assert FaultConfig.from_mapping(faults.to_dict()) == faults


@pytest.mark.parametrize(
    "data",
    [
        {"nope": 1},
        {"error_rate": 1.5},
        {"error_status": 200},
        {"error_body": "xml"},
        {"latency_ms": -1},
        {"fail_first_n": "2"},
        {"hang": "yes"},
    ],
)
def test_fault_config_rejects_unknown_fields_and_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_mapping(data)


def test_emulator_config_needs_a_key_and_a_known_error_style() -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(api_keys=())
    with pytest.raises(ValueError):
        EmulatorConfig(api_keys=("",))
    with pytest.raises(ValueError):
        EmulatorConfig(api_keys=("k",), error_style="grpc")
    assert EmulatorConfig(api_keys=("k",)).rpm == 500
