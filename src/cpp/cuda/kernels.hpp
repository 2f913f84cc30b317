// Private: the C++ entry points of the CUDA kernels, for the _cuda bindings (a host C++ TU
// that never includes device code). kernels.cu defines them by instantiating
// pyfastopt/cuda/loop.cuh for every rule of PFO_FOR_EACH_RULE: in float and double, and
// in mixed storage (computed in float32).
#pragma once

#include <cuda_runtime_api.h>

#include <pyfastopt/batch.hpp>
#include <pyfastopt/rules/all.hpp>
#include <pyfastopt/storage.hpp>

namespace pyfastopt::cuda {

/// Applies Rule to every element of b (device pointers on the current device), in place,
/// enqueued on `stream`; sms is the device's multiprocessor count. Throws
/// std::runtime_error if a launch fails.
template <class Rule, class T>
void step(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, cudaStream_t stream, int sms);

/// As step, for buffers in any Storage (storage.hpp): bfloat16/float16 params and grads,
/// float32 masters with a 16-bit copy, 16-bit and 8-bit states, stochastic rounding,
/// grad_scale; the same bits as the CPU's run_mixed.
template <class Rule>
void step_mixed(const CoeffsOf<Rule, float>& c,
                const MixedBatch<Rule::kStates>& b,
                cudaStream_t stream,
                int sms);

#define PFO_CUDA_DECLARE(Rule, name)                                                      \
    extern template void step<rules::Rule, float>(const CoeffsOf<rules::Rule, float>&,    \
                                                  const BatchOf<rules::Rule, float>&,     \
                                                  cudaStream_t, int);                     \
    extern template void step<rules::Rule, double>(const CoeffsOf<rules::Rule, double>&,  \
                                                   const BatchOf<rules::Rule, double>&,   \
                                                   cudaStream_t, int);                    \
    extern template void step_mixed<rules::Rule>(const CoeffsOf<rules::Rule, float>&,     \
                                                 const MixedBatch<rules::Rule::kStates>&, \
                                                 cudaStream_t, int);
PFO_FOR_EACH_RULE(PFO_CUDA_DECLARE)
#undef PFO_CUDA_DECLARE

}  // namespace pyfastopt::cuda
