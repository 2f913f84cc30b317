// Instantiations only: every rule's CPU loop compiled for -march=x86-64-v4 (AVX-512 F/BW/DQ/VL).
#define PFO_CPU_NAMESPACE cpu_avx512
#include "instantiate-inl.hpp"
