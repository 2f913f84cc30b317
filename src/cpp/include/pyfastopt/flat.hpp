// pyfastopt/flat.hpp: a flat, exception-free API over every element-wise rule, for callers
// that cannot name templates: Cython (pyfastopt/kernels.pxd declares this header), C-like
// C++. Public, header-only, Python-free.
//
// A rule is an int (RuleId: rule_<python name>, in the order of PFO_FOR_EACH_RULE), its
// per-step coefficients an array of doubles (the tuple Python's
// pyfastopt.functional.<name>_rule(...).coeffs(t) returns), its tensors raw pointers. Every
// function is noexcept, touches no Python object and may run without the GIL; errors come
// back as a Status. The rules that also reduce sums (SWATS's Adam phase, sum of squares) are
// not part of it.
//
//   int status = pyfastopt::flat::step(pyfastopt::flat::rule_adam, coeffs, 10,
//                                      p, g, states /* {m, v} */, 2, n, threads);
//
// Preconditions that cannot be checked: each pointer is valid for n elements and no two
// buffers overlap. Compile with the flags of kernels.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>

#include "kernels.hpp"

namespace pyfastopt::flat {

/// The rules, by their Python names (rule_adam, rule_sgd_momentum, ...).
enum RuleId : int {
#define PFO_FLAT_RULE_ID(Rule, name) rule_##name,
    PFO_FOR_EACH_RULE(PFO_FLAT_RULE_ID)
#undef PFO_FLAT_RULE_ID
        kNumRules  ///< the number of rules; ids are 0..kNumRules-1
};

/// What step() returns. Nothing is written unless it returns kOk.
enum Status : int {
    kOk = 0,
    kUnknownRule = 1,      ///< rule is not a RuleId
    kWrongCoeffCount = 2,  ///< ncoeffs != num_coeffs(rule)
    kWrongStateCount = 3,  ///< nstates != num_states(rule)
    kNullPointer = 4,      ///< a null coeffs, param, grad or state pointer (with n > 0)
    kOutOfMemory = 5,      ///< the driver's small bookkeeping allocation failed
};

using rules::kMaxStates;

namespace detail {

struct RuleInfo {
    const char* name;
    int num_coeffs;
    int num_states;
    bool reads_grad;
    const char* const* state_names;
};

template <class Rule>
constexpr RuleInfo info_of(const char* name) {
    return {name, static_cast<int>(kNumCoeffs<Rule>), Rule::kStates, ReadsGradient<Rule>::value,
            Rule::kStateNames};
}

inline constexpr RuleInfo kRules[] = {
#define PFO_FLAT_RULE_INFO(Rule, name) info_of<rules::Rule>(#name),
    PFO_FOR_EACH_RULE(PFO_FLAT_RULE_INFO)
#undef PFO_FLAT_RULE_INFO
};
static_assert(sizeof(kRules) / sizeof(kRules[0]) == kNumRules, "one entry per RuleId");

inline const RuleInfo* find(int rule) noexcept {
    return rule >= 0 && rule < kNumRules ? &kRules[rule] : nullptr;
}

template <class Rule, class T>
int step_rule(const double* coeffs,
              std::size_t ncoeffs,
              T* param,
              const T* grad,
              T* const* states,
              std::size_t nstates,
              std::size_t n,
              int threads) noexcept {
    if (ncoeffs != kNumCoeffs<Rule>) return kWrongCoeffCount;
    if (nstates != static_cast<std::size_t>(Rule::kStates)) return kWrongStateCount;
    if (coeffs == nullptr) return kNullPointer;
    if (n == 0) return kOk;
    if (param == nullptr || (ReadsGradient<Rule>::value && grad == nullptr)) return kNullPointer;
    std::array<T*, Rule::kStates> s{};
    for (int k = 0; k < Rule::kStates; ++k) {
        if (states == nullptr || states[k] == nullptr) return kNullPointer;
        s[k] = states[k];
    }
    try {
        const auto c = coeffs_from<Rule, T>(coeffs);
        PFO_CPU_NAMESPACE::update<Rule, T>(c, param, grad, s, n, threads);
    } catch (...) {  // std::bad_alloc from the driver's per-call offsets (before any write)
        return kOutOfMemory;
    }
    return kOk;
}

template <class T>
int step(int rule,
         const double* coeffs,
         std::size_t ncoeffs,
         T* param,
         const T* grad,
         T* const* states,
         std::size_t nstates,
         std::size_t n,
         int threads) noexcept {
    switch (rule) {
#define PFO_FLAT_RULE_CASE(Rule, name) \
    case rule_##name:                  \
        return step_rule<rules::Rule, T>(coeffs, ncoeffs, param, grad, states, nstates, n, threads);
        PFO_FOR_EACH_RULE(PFO_FLAT_RULE_CASE)
#undef PFO_FLAT_RULE_CASE
        default:
            return kUnknownRule;
    }
}

}  // namespace detail

/// The rule's Python name ("adam", ...), or nullptr for an unknown id.
inline const char* rule_name(int rule) noexcept {
    const auto* r = detail::find(rule);
    return r ? r->name : nullptr;
}

/// The id of a rule by its Python name, or -1.
inline int rule_id(const char* name) noexcept {
    if (name == nullptr) return -1;
    for (int i = 0; i < kNumRules; ++i)
        if (std::strcmp(detail::kRules[i].name, name) == 0) return i;
    return -1;
}

/// The number of per-step coefficients of a rule, or -1 for an unknown id.
inline int num_coeffs(int rule) noexcept {
    const auto* r = detail::find(rule);
    return r ? r->num_coeffs : -1;
}

/// The number of state buffers of a rule, or -1 for an unknown id.
inline int num_states(int rule) noexcept {
    const auto* r = detail::find(rule);
    return r ? r->num_states : -1;
}

/// 1 if the rule reads its gradient, 0 if it ignores it (grad may then be null or alias
/// param), -1 for an unknown id.
inline int reads_grad(int rule) noexcept {
    const auto* r = detail::find(rule);
    return r ? static_cast<int>(r->reads_grad) : -1;
}

/// The name of state buffer k of a rule, as torch names it ("exp_avg", ...), or nullptr.
inline const char* state_name(int rule, int k) noexcept {
    const auto* r = detail::find(rule);
    return r && k >= 0 && k < r->num_states ? r->state_names[k] : nullptr;
}

/// A sentence for a Status.
inline const char* status_message(int status) noexcept {
    switch (status) {
        case kOk:
            return "ok";
        case kUnknownRule:
            return "unknown rule id";
        case kWrongCoeffCount:
            return "wrong number of coefficients for the rule";
        case kWrongStateCount:
            return "wrong number of state buffers for the rule";
        case kNullPointer:
            return "null pointer";
        case kOutOfMemory:
            return "out of memory";
        default:
            return "unknown status";
    }
}

/// Whether this translation unit was compiled with OpenMP (else threads is ignored).
inline bool compiled_with_openmp() noexcept {
#if defined(_OPENMP)
    return true;
#else
    return false;
#endif
}

/// One in-place step of `rule` on one tensor of n elements: param, and states[0..nstates)
/// in the rule's state order (state_name), given the gradient grad and the rule's ncoeffs
/// per-step coefficients. Returns a Status; writes nothing unless kOk.
inline int step(int rule,
                const double* coeffs,
                std::size_t ncoeffs,
                double* param,
                const double* grad,
                double* const* states,
                std::size_t nstates,
                std::size_t n,
                int threads) noexcept {
    return detail::step<double>(rule, coeffs, ncoeffs, param, grad, states, nstates, n, threads);
}

/// As above, for float32 tensors (coefficients still in double, rounded once to float).
inline int step(int rule,
                const double* coeffs,
                std::size_t ncoeffs,
                float* param,
                const float* grad,
                float* const* states,
                std::size_t nstates,
                std::size_t n,
                int threads) noexcept {
    return detail::step<float>(rule, coeffs, ncoeffs, param, grad, states, nstates, n, threads);
}

}  // namespace pyfastopt::flat
