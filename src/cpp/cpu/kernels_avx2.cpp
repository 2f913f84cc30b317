// Instantiations only: every rule's CPU loop compiled for -march=x86-64-v3 (AVX2, FMA).
#define PFO_CPU_NAMESPACE cpu_avx2
#include "instantiate-inl.hpp"
