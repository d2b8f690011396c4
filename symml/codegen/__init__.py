"""Codegen: graph → numba kernel modules (``emit`` spells bodies, ``module`` the file, ``jit`` caches)."""
from .jit import CompiledKernel, cache_dir, compile, write_atomic
from .module import CODEGEN_VERSION, Chunking, KernelSpec, module_source
from .scalar import UnsupportedConstruct

__all__ = ["compile", "CompiledKernel", "cache_dir", "write_atomic", "CODEGEN_VERSION", "KernelSpec",
           "module_source", "UnsupportedConstruct"]
