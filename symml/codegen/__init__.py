"""Codegen: graph → numba kernel modules (``emit`` spells bodies, ``module`` the file, ``runtime``
the shared helpers of generated code, ``jit`` caches ad-hoc kernels)."""
from .jit import CompiledKernel, cache_dir, compile, write_atomic
from .module import Chunking, KernelSpec, ModuleText, module_parts, module_source
from .scalar import UnsupportedConstruct
from .version import CODEGEN_VERSION

__all__ = ["compile", "CompiledKernel", "cache_dir", "write_atomic", "CODEGEN_VERSION", "KernelSpec", "Chunking",
           "ModuleText", "module_parts", "module_source", "UnsupportedConstruct"]
