"""utils.precision: the rule that picks mixed precision from the hardware, on fake machines."""
import pytest

from utils.precision import Hardware, choose_precision, cpu_flags, describe_hardware


@pytest.mark.parametrize("hardware, expected", [
    (Hardware(tpu=True), "mixed_bfloat16"),
    (Hardware(gpu_name="Tesla T4", gpu_compute_capability=(7, 5)), "mixed_float16"),
    (Hardware(gpu_name="Tesla V100", gpu_compute_capability=(7, 0)), "mixed_float16"),
    (Hardware(gpu_name="A100", gpu_compute_capability=(8, 0)), "mixed_bfloat16"),
    (Hardware(gpu_name="L4", gpu_compute_capability=(8, 9)), "mixed_bfloat16"),
    (Hardware(gpu_name="H100", gpu_compute_capability=(9, 0)), "mixed_bfloat16"),
    (Hardware(cpu_flags={"avx2", "avx512f", "avx512_bf16"}), "mixed_bfloat16"),
    (Hardware(cpu_flags={"avx2", "amx_bf16", "amx_tile"}), "mixed_bfloat16"),
    (Hardware(cpu_flags={"avx2", "avx512f"}), "float32"),
    (Hardware(), "float32"),
    # A GPU decides, whatever the CPU can do.
    (Hardware(gpu_compute_capability=(7, 5), cpu_flags={"avx512_bf16"}), "mixed_float16"),
])
def test_rule(hardware, expected):
    policy, reason = choose_precision(hardware)
    assert policy == expected
    assert reason and "." not in reason[-1:]  # one clause, read inside a sentence


def test_reason_names_the_gpu_and_its_generation():
    _, reason = choose_precision(Hardware(gpu_name="Tesla T4", gpu_compute_capability=(7, 5)))
    assert "Tesla T4" in reason and "7.5" in reason and "Ampere" in reason


def test_this_machine_is_described_consistently():
    hardware = describe_hardware()
    assert hardware.cpu_flags == cpu_flags()
    policy, _ = choose_precision(hardware)
    assert policy in {"float32", "mixed_float16", "mixed_bfloat16"}
