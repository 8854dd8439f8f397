"""Which numeric precision to train in, chosen from the hardware.

Introduced in 11_better_network_training, which prints its choice and trains in it.
Mixed precision keeps the weights in float32 but computes in a 16-bit format, which is
faster only where the hardware computes that format natively:

- TPUs, NVIDIA GPUs from Ampere on (compute capability 8.0 and up: A100, RTX 30xx, L4, H100)
  and CPUs with bfloat16 instructions (AVX512_BF16 or AMX) -> "mixed_bfloat16";
- older NVIDIA GPUs (compute capability below 8.0, e.g. Colab's free T4, 7.5), which have
  float16 but not bfloat16 units -> "mixed_float16" (Keras then scales the loss so that
  small gradients do not round to zero in float16);
- anything else (most laptop CPUs, Apple silicon) -> "float32": a 16-bit format it cannot
  compute natively is emulated, which makes each step slower, not faster.

`choose_precision` applies this rule to a description of the hardware, so it can be tested
on machines we do not have; `describe_hardware` reads that description from this machine.
"""
import platform
from dataclasses import dataclass, field
from pathlib import Path

BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
AMPERE = (8, 0)


@dataclass
class Hardware:
    """What `choose_precision` needs to know: accelerators and CPU instruction flags."""

    tpu: bool = False
    gpu_name: str = ""
    gpu_compute_capability: tuple = None  # (major, minor) of the first NVIDIA GPU, or None
    cpu_flags: set = field(default_factory=set)


def choose_precision(hardware):
    """Return `(policy, reason)`: a Keras dtype policy name and one sentence saying why."""
    if hardware.tpu:
        return "mixed_bfloat16", "a TPU computes in bfloat16 natively"
    if hardware.gpu_compute_capability is not None:
        gpu = hardware.gpu_name or "the GPU"
        major, minor = hardware.gpu_compute_capability
        if (major, minor) >= AMPERE:
            return "mixed_bfloat16", f"{gpu} (compute capability {major}.{minor}) has bfloat16 units"
        return "mixed_float16", (f"{gpu} (compute capability {major}.{minor}, older than Ampere) "
                                 f"has float16 units but no bfloat16 ones")
    bf16_flags = sorted(BF16_CPU_FLAGS & set(hardware.cpu_flags))
    if bf16_flags:
        return "mixed_bfloat16", f"no GPU, and the CPU has bfloat16 instructions ({', '.join(bf16_flags)})"
    return "float32", "no GPU, and the CPU has no bfloat16 instructions, so 16-bit would be emulated"


def describe_hardware():
    """Read this machine's accelerators (through the Keras backend) and CPU flags."""
    hardware = Hardware(cpu_flags=cpu_flags())
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        hardware.tpu = bool(tf.config.list_logical_devices("TPU"))
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            hardware.gpu_name = details.get("device_name", "")
            hardware.gpu_compute_capability = details.get("compute_capability")
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        hardware.tpu = device.platform == "tpu"
        if device.platform == "gpu":
            hardware.gpu_name = device.device_kind
            major, minor = str(device.compute_capability).split(".")
            hardware.gpu_compute_capability = (int(major), int(minor))
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            hardware.gpu_name = torch.cuda.get_device_name(0)
            hardware.gpu_compute_capability = tuple(torch.cuda.get_device_capability(0))
    return hardware


def cpu_flags():
    """The CPU's instruction-set flags on Linux (from /proc/cpuinfo); empty elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() != "Linux" or not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()
