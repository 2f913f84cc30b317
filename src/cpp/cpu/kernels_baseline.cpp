// Instantiations only: every rule's CPU loop compiled for the compiler's baseline (x86-64 = SSE2,
// or the aarch64 default).
#define PFO_CPU_NAMESPACE cpu_baseline
#include "instantiate-inl.hpp"
