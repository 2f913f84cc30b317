// Private: included by each kernels_<isa>.cpp with PFO_CPU_NAMESPACE set. Instantiates the
// CPU driver for every rule and dtype, compiled with that TU's ISA flags.
#include <pyfastopt/cpu/factored-inl.hpp>
#include <pyfastopt/cpu/lbfgs-inl.hpp>
#include <pyfastopt/cpu/loop-inl.hpp>
#include <pyfastopt/cpu/mixed-inl.hpp>

namespace pyfastopt::PFO_CPU_NAMESPACE {

#define PFO_INSTANTIATE_RUN(Rule, name)                                               \
    template void run<rules::Rule, float>(const CoeffsOf<rules::Rule, float>&,        \
                                          const BatchOf<rules::Rule, float>&, int);   \
    template void run<rules::Rule, double>(const CoeffsOf<rules::Rule, double>&,      \
                                           const BatchOf<rules::Rule, double>&, int); \
    template void run_mixed<rules::Rule>(const CoeffsOf<rules::Rule, float>&,         \
                                         const MixedBatch<rules::Rule::kStates>&, int);
#define PFO_INSTANTIATE_RUN_REDUCE(Rule, name)                                                    \
    template void run_reduce<rules::Rule, float>(                                                 \
        const CoeffsOf<rules::Rule, float>&, const BatchOf<rules::Rule, float>&, int, double*);   \
    template void run_reduce<rules::Rule, double>(                                                \
        const CoeffsOf<rules::Rule, double>&, const BatchOf<rules::Rule, double>&, int, double*); \
    template void run_mixed_reduce<rules::Rule>(const CoeffsOf<rules::Rule, float>&,              \
                                                const MixedBatch<rules::Rule::kStates>&, int,     \
                                                double*);

PFO_FOR_EACH_RULE(PFO_INSTANTIATE_RUN)
PFO_FOR_EACH_REDUCING_RULE(PFO_INSTANTIATE_RUN_REDUCE)

#define PFO_INSTANTIATE_TENSORWISE(T)                                                              \
    template void adafactor_matrix<T>(const AdafactorCoeffs&, T*, const T*, T*, T*, std::size_t,   \
                                      std::size_t, std::size_t, int);                              \
    template void adafactor_vector<T>(const AdafactorCoeffs&, T*, const T*, T*, std::size_t, int); \
    template void lbfgs_direction<T>(const T*, const T*, const T*, const T*, const std::int64_t*,  \
                                     std::size_t, std::size_t, T, T*, T*, int);
PFO_INSTANTIATE_TENSORWISE(float)
PFO_INSTANTIATE_TENSORWISE(double)

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
