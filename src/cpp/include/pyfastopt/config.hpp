// pyfastopt/config.hpp: portability macros shared by host (C++) and device (CUDA) code.
// Public, Python-free header: safe to include from any C++17 or CUDA translation unit.
#pragma once

#define PFO_VERSION_MAJOR 0
#define PFO_VERSION_MINOR 1
#define PFO_VERSION_PATCH 0

/// Marks a function callable from both host and CUDA device code.
#if defined(__CUDACC__)
#define PFO_HD __host__ __device__
#else
#define PFO_HD
#endif

/// Rules are forced inline: an out-of-line copy compiled for one ISA must never be called
/// from the loop of another (all per-ISA copies share the rule's symbol name).
#if defined(_MSC_VER)
#define PFO_INLINE __forceinline
#else
#define PFO_INLINE inline __attribute__((always_inline))
#endif
