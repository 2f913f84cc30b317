// CPU target selection and the per-call switch. The target is chosen once at import: the
// best one both compiled and supported by this CPU, capped by PYFASTOPT_ISA if set.
#include "dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <type_traits>

#include <pyfastopt/rules/all.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

// Declarations of the per-target instantiations in kernels_<isa>.cpp.
#define PFO_DECLARE_TARGET(ns)                                                    \
    namespace pyfastopt::ns {                                                     \
    template <class Rule, class T>                                                \
    void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, int threads); \
    template <class Rule, class T>                                                \
    void run_reduce(const CoeffsOf<Rule, T>& c,                                   \
                    const BatchOf<Rule, T>& b,                                    \
                    int threads,                                                  \
                    double* sums);                                                \
    template <class Rule>                                                         \
    void run_mixed(const CoeffsOf<Rule, float>& c,                                \
                   const MixedBatch<Rule::kStates>& b,                            \
                   int threads);                                                  \
    template <class Rule>                                                         \
    void run_mixed_reduce(const CoeffsOf<Rule, float>& c,                         \
                          const MixedBatch<Rule::kStates>& b,                     \
                          int threads,                                            \
                          double* sums);                                          \
    template <class T>                                                            \
    void adafactor_matrix(const factored::AdafactorCoeffs& c,                     \
                          T* p,                                                   \
                          const T* g,                                             \
                          T* row_var,                                             \
                          T* col_var,                                             \
                          std::size_t batch,                                      \
                          std::size_t rows,                                       \
                          std::size_t cols,                                       \
                          int threads);                                           \
    template <class T>                                                            \
    void adafactor_vector(const factored::AdafactorCoeffs& c,                     \
                          T* p,                                                   \
                          const T* g,                                             \
                          T* variance,                                            \
                          std::size_t n,                                          \
                          int threads);                                           \
    template <class T>                                                            \
    void lbfgs_direction(const T* grad,                                           \
                         const T* dirs,                                           \
                         const T* stps,                                           \
                         const T* ro,                                             \
                         const std::int64_t* rows,                                \
                         std::size_t k,                                           \
                         std::size_t n,                                           \
                         T h_diag,                                                \
                         T* q,                                                    \
                         T* al,                                                   \
                         int threads);                                            \
    }
PFO_DECLARE_TARGET(cpu_baseline)
#if defined(PFO_HAVE_AVX2)
PFO_DECLARE_TARGET(cpu_avx2)
#endif
#if defined(PFO_HAVE_AVX512)
PFO_DECLARE_TARGET(cpu_avx512)
#endif

namespace pyfastopt::dispatch {
namespace {

enum class Target { kBaseline, kAvx2, kAvx512 };

struct TargetInfo {
    Target target;
    const char* name;
    bool (*supported)();
};

bool always() {
    return true;
}
#if defined(PFO_HAVE_AVX2)
bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi2");
}
#endif
#if defined(PFO_HAVE_AVX512)
bool cpu_has_avx512() {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
#endif

const TargetInfo kTargets[] = {
    {Target::kBaseline, "baseline", always},
#if defined(PFO_HAVE_AVX2)
    {Target::kAvx2, "avx2", cpu_has_avx2},
#endif
#if defined(PFO_HAVE_AVX512)
    {Target::kAvx512, "avx512", cpu_has_avx512},
#endif
};

/// Best supported target, capped by PYFASTOPT_ISA (an unknown name leaves the best).
const TargetInfo* initial_target() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();  // may run before libgcc's own constructor
#endif
    const char* cap = std::getenv("PYFASTOPT_ISA");
    const TargetInfo* best = &kTargets[0];
    for (const auto& t : kTargets) {
        if (!t.supported()) break;
        best = &t;
        if (cap != nullptr && t.name == std::string(cap)) break;
    }
    return best;
}

int initial_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();  // honours OMP_NUM_THREADS
#else
    return 1;
#endif
}

std::atomic<const TargetInfo*> g_target{initial_target()};
std::atomic<int> g_threads{initial_threads()};

}  // namespace

/// Calls f(tag) with the selected target's tag and thread count; the tag's type picks the
/// namespace of the per-target instantiations.
template <class F>
decltype(auto) on_target(F&& f) {
    const int threads = g_threads.load(std::memory_order_relaxed);
    switch (g_target.load(std::memory_order_relaxed)->target) {
#if defined(PFO_HAVE_AVX512)
        case Target::kAvx512:
            return f(std::integral_constant<Target, Target::kAvx512>{}, threads);
#endif
#if defined(PFO_HAVE_AVX2)
        case Target::kAvx2:
            return f(std::integral_constant<Target, Target::kAvx2>{}, threads);
#endif
        default:
            return f(std::integral_constant<Target, Target::kBaseline>{}, threads);
    }
}

// PFO_ON_TARGET(call): returns `call` (which may name `threads`) in the namespace of the selected
// target.
#if defined(PFO_HAVE_AVX512)
#define PFO_CASE_AVX512(...) \
    if constexpr (decltype(tag)::value == Target::kAvx512) return cpu_avx512::__VA_ARGS__;
#else
#define PFO_CASE_AVX512(...)
#endif
#if defined(PFO_HAVE_AVX2)
#define PFO_CASE_AVX2(...) \
    if constexpr (decltype(tag)::value == Target::kAvx2) return cpu_avx2::__VA_ARGS__;
#else
#define PFO_CASE_AVX2(...)
#endif
#define PFO_ON_TARGET(...)                        \
    return on_target([&](auto tag, int threads) { \
        (void)tag;                                \
        PFO_CASE_AVX512(__VA_ARGS__)              \
        PFO_CASE_AVX2(__VA_ARGS__)                \
        return cpu_baseline::__VA_ARGS__;         \
    })

template <class Rule, class T>
void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b) {
    PFO_ON_TARGET(run<Rule, T>(c, b, threads));
}

template <class Rule, class T>
void run_reduce(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, double* sums) {
    PFO_ON_TARGET(run_reduce<Rule, T>(c, b, threads, sums));
}

template <class Rule>
void run_mixed(const CoeffsOf<Rule, float>& c, const MixedBatch<Rule::kStates>& b) {
    PFO_ON_TARGET(run_mixed<Rule>(c, b, threads));
}

template <class Rule>
void run_mixed_reduce(const CoeffsOf<Rule, float>& c,
                      const MixedBatch<Rule::kStates>& b,
                      double* sums) {
    PFO_ON_TARGET(run_mixed_reduce<Rule>(c, b, threads, sums));
}

template <class T>
void adafactor_matrix(const factored::AdafactorCoeffs& c,
                      T* p,
                      const T* g,
                      T* row_var,
                      T* col_var,
                      std::size_t batch,
                      std::size_t rows,
                      std::size_t cols) {
    PFO_ON_TARGET(adafactor_matrix<T>(c, p, g, row_var, col_var, batch, rows, cols, threads));
}

template <class T>
void adafactor_vector(
    const factored::AdafactorCoeffs& c, T* p, const T* g, T* variance, std::size_t n) {
    PFO_ON_TARGET(adafactor_vector<T>(c, p, g, variance, n, threads));
}

template <class T>
void lbfgs_direction(const T* grad,
                     const T* dirs,
                     const T* stps,
                     const T* ro,
                     const std::int64_t* rows,
                     std::size_t k,
                     std::size_t n,
                     T h_diag,
                     T* q,
                     T* al) {
    PFO_ON_TARGET(lbfgs_direction<T>(grad, dirs, stps, ro, rows, k, n, h_diag, q, al, threads));
}

#define PFO_INSTANTIATE_TENSORWISE(T)                                                             \
    template void adafactor_matrix<T>(const factored::AdafactorCoeffs&, T*, const T*, T*, T*,     \
                                      std::size_t, std::size_t, std::size_t);                     \
    template void adafactor_vector<T>(const factored::AdafactorCoeffs&, T*, const T*, T*,         \
                                      std::size_t);                                               \
    template void lbfgs_direction<T>(const T*, const T*, const T*, const T*, const std::int64_t*, \
                                     std::size_t, std::size_t, T, T*, T*);
PFO_INSTANTIATE_TENSORWISE(float)
PFO_INSTANTIATE_TENSORWISE(double)

#define PFO_INSTANTIATE_DISPATCH(Rule, name)                                     \
    template void run<rules::Rule, float>(const CoeffsOf<rules::Rule, float>&,   \
                                          const BatchOf<rules::Rule, float>&);   \
    template void run<rules::Rule, double>(const CoeffsOf<rules::Rule, double>&, \
                                           const BatchOf<rules::Rule, double>&); \
    template void run_mixed<rules::Rule>(const CoeffsOf<rules::Rule, float>&,    \
                                         const MixedBatch<rules::Rule::kStates>&);
#define PFO_INSTANTIATE_DISPATCH_REDUCE(Rule, name)                                              \
    template void run_reduce<rules::Rule, float>(const CoeffsOf<rules::Rule, float>&,            \
                                                 const BatchOf<rules::Rule, float>&, double*);   \
    template void run_reduce<rules::Rule, double>(const CoeffsOf<rules::Rule, double>&,          \
                                                  const BatchOf<rules::Rule, double>&, double*); \
    template void run_mixed_reduce<rules::Rule>(const CoeffsOf<rules::Rule, float>&,             \
                                                const MixedBatch<rules::Rule::kStates>&, double*);
PFO_FOR_EACH_RULE(PFO_INSTANTIATE_DISPATCH)
PFO_FOR_EACH_REDUCING_RULE(PFO_INSTANTIATE_DISPATCH_REDUCE)

std::vector<std::string> compiled_targets() {
    std::vector<std::string> names;
    for (const auto& t : kTargets) names.emplace_back(t.name);
    return names;
}

std::vector<std::string> supported_targets() {
    std::vector<std::string> names;
    for (const auto& t : kTargets)
        if (t.supported()) names.emplace_back(t.name);
    return names;
}

std::string selected_target() {
    return g_target.load()->name;
}

bool select_target(const std::string& name) {
    for (const auto& t : kTargets) {
        if (t.name == name && t.supported()) {
            g_target.store(&t);
            return true;
        }
    }
    return false;
}

int num_threads() {
    return g_threads.load();
}
void set_num_threads(int n) {
    g_threads.store(n < 1 ? 1 : n);
}

bool has_openmp() {
#if defined(_OPENMP)
    return true;
#else
    return false;
#endif
}

}  // namespace pyfastopt::dispatch
