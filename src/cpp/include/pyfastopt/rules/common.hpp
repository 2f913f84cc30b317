// pyfastopt/rules/common.hpp: element-wise helpers shared by every update rule.
//
// A rule is a struct with
//   kStates                  number of per-element state buffers, named in kStateNames;
//   kSignedStates            (optional) whether each state may be negative: a rule that
//                            lists it takes blockwise 8-bit states (signed or unsigned map);
//   Coeffs<T>                per-step scalars (an aggregate of T fields, computed on the host
//                            in double by the caller, e.g. pyfastopt's Python layer);
//   apply(c, p, g, s)        updates one element: p (parameter) and s[0..kStates) in place.
// Rules allocate nothing, throw nothing and branch only on per-step flags, so the same code
// vectorises on the CPU and runs as CUDA device code. The math uses no fused multiply-add on
// purpose: every target (SSE2, AVX2, AVX-512, CUDA with -fmad=false) then rounds identically.
#pragma once

#include <cmath>

#include "../config.hpp"

namespace pyfastopt::rules {

/// The most state buffers a rule may have (delay-tolerant Adagrad has 4); the flat API and
/// the Cython wrapper hold state pointers in arrays of this size.
inline constexpr int kMaxStates = 4;

/// Lists a rule: `PFO_RULE(Type, python_name);` on a line of its own, at the start, after the
/// rule's definition. CMake reads these lines from every header in rules/ to write
/// rules/all.hpp (CMakeLists.txt, "The rule list"); the macro checks what the lists rely on.
#define PFO_RULE(Rule, name) \
    static_assert(Rule::kStates >= 0 && Rule::kStates <= kMaxStates, #name ": raise kMaxStates")
/// Lists a rule that also reduces sums (Rule::kReductions of them).
#define PFO_REDUCING_RULE(Rule, name) PFO_RULE(Rule, name)

/// The gradient every rule sees: sign-flipped when maximizing, plus coupled L2 weight decay.
/// grad_sign is +1 or -1 (exact); the decay term is skipped when zero so that a non-finite
/// parameter with weight_decay == 0 stays as it is.
template <class T>
PFO_HD PFO_INLINE T effective_grad(T g, T p, T grad_sign, T weight_decay) {
    g = grad_sign * g;
    return weight_decay != T(0) ? g + weight_decay * p : g;
}

/// torch.lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w) (exact at w = 1). w is
/// a per-step coefficient, so the branch is the same for every element.
template <class T>
PFO_HD PFO_INLINE T lerp(T a, T b, T w) {
    return (w < T(0.5) && w > T(-0.5)) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

template <class T>
PFO_HD PFO_INLINE T sqrt(T x) {
    using std::sqrt;
    return sqrt(x);
}

/// sign(x) in {-1, 0, +1}; keeps the sign of zero and propagates NaN, as numpy.sign does
/// (torch 2.13's CPU torch.sign returns 0 for NaN and for -0).
/// (Two flat selects, not nested ones: GCC then vectorises them to a compare and a blend
/// each; the nested form cost it three times the instructions.)
template <class T>
PFO_HD PFO_INLINE T sign(T x) {
    const T up = x > T(0) ? T(1) : x;
    return x < T(0) ? T(-1) : up;
}

/// Adam's moment estimates: m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2. C is any
/// Coeffs with beta1, one_minus_beta1, beta2, one_minus_beta2.
template <class C, class T>
PFO_HD PFO_INLINE void update_moments(const C& c, T g, T& m, T& v) {
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * (g * g);
}

/// max/min as torch.maximum/minimum: NaN if either argument is NaN, so a NaN in a running
/// maximum (AMSGrad's max_exp_avg_sq, AdaMax's exp_inf) stays, as in torch and the reference.
/// Two flat selects (the first alone is the instruction maxps/minps, which returns its
/// second operand when either is NaN and so would forget a NaN in a).
template <class T>
PFO_HD PFO_INLINE T max(T a, T b) {
    const T larger = a > b ? a : b;
    return a != a ? a : larger;
}

template <class T>
PFO_HD PFO_INLINE T min(T a, T b) {
    const T smaller = a < b ? a : b;
    return a != a ? a : smaller;
}

/// x limited to [lo, hi]; NaN stays NaN (as torch.clamp).
template <class T>
PFO_HD PFO_INLINE T clamp(T x, T lo, T hi) {
    const T below_hi = x > hi ? hi : x;
    return x < lo ? lo : below_hi;
}

}  // namespace pyfastopt::rules
