// The device kernels of pyfastopt._cuda: pyfastopt/cuda/loop.cuh instantiated for every
// element-wise rule (PFO_FOR_EACH_RULE): float, double, and mixed storage (in float32). The
// only file nvcc compiles; the reducing rules (PFO_FOR_EACH_REDUCING_RULE: SWATS, clipping's
// norm) are CPU-only.
#include <pyfastopt/cuda/loop.cuh>

#include "kernels.hpp"

namespace pyfastopt::cuda {

template <class Rule, class T>
void step(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, cudaStream_t stream, int sms) {
    run<Rule, T>(c, b, stream, sms);
}

template <class Rule>
void step_mixed(const CoeffsOf<Rule, float>& c,
                const MixedBatch<Rule::kStates>& b,
                cudaStream_t stream,
                int sms) {
    run_mixed<Rule>(c, b, stream, sms);
}

#define PFO_CUDA_INSTANTIATE(Rule, name)                                                           \
    template void step<rules::Rule, float>(const CoeffsOf<rules::Rule, float>&,                    \
                                           const BatchOf<rules::Rule, float>&, cudaStream_t, int); \
    template void step<rules::Rule, double>(const CoeffsOf<rules::Rule, double>&,                  \
                                            const BatchOf<rules::Rule, double>&, cudaStream_t,     \
                                            int);                                                  \
    template void step_mixed<rules::Rule>(const CoeffsOf<rules::Rule, float>&,                     \
                                          const MixedBatch<rules::Rule::kStates>&, cudaStream_t,   \
                                          int);
PFO_FOR_EACH_RULE(PFO_CUDA_INSTANTIATE)
#undef PFO_CUDA_INSTANTIATE

}  // namespace pyfastopt::cuda
