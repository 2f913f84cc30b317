// pyfastopt/rules/adabound.hpp: AdaBound and AMSBound (Luo et al. 2019).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// m, v as Adam;  [AMSBound: vmax <- max(vmax, v)];
/// p <- p - clamp(step_size / (sqrt(v_hat) + eps), lower_t, upper_t) * m,
/// step_size = lr sqrt(bc2) / bc1, bounds converging to final_lr.
template <bool Amsbound>
struct AdaBound {
    static constexpr int kStates = 2 + Amsbound;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T eps, step_size, lower, upper;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        update_moments(c, g, m, v);
        T v_hat = v;
        if constexpr (Amsbound) {
            s[2] = max(s[2], v);
            v_hat = s[2];
        }
        const T rate = clamp(c.step_size / (sqrt(v_hat) + c.eps), c.lower, c.upper);
        p = p - rate * m;
    }
};

using AdaBoundPlain = AdaBound<false>;
using AmsBound = AdaBound<true>;

PFO_RULE(AdaBoundPlain, adabound);
PFO_RULE(AmsBound, amsbound);

}  // namespace pyfastopt::rules
