"""What runs models: backends, the cache of derived files, INT8 quantization, the CPU's INT8 features."""

from .cpu import CpuFeatures, cpu_features

__all__ = ["CpuFeatures", "cpu_features"]
