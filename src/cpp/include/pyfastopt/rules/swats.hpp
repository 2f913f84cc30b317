// pyfastopt/rules/swats.hpp: SWATS, switching from Adam to SGD (Keskar & Socher 2017).
// The SGD phase is SgdMomentum (rules/sgd.hpp); this is the Adam phase, which also reduces
// the two dot products the switch test needs.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// m, v as Adam;  q = -lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps);  p <- p + q;
/// reduces sum(q*q) and sum(q*g) (in double) for the projected SGD rate.
struct SwatsAdam {
    static constexpr int kStates = 2;
    static constexpr int kReductions = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq"};
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T eps;
        T neg_step_size;  ///< -lr sqrt(1 - beta2^t) / (1 - beta1^t)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s, double* sums) {
        T& m = s[0];
        T& v = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        update_moments(c, g, m, v);
        const T q = c.neg_step_size * (m / (sqrt(v) + c.eps));
        p = p + q;
        sums[0] += double(q) * double(q);
        sums[1] += double(q) * double(g);
    }
};

PFO_REDUCING_RULE(SwatsAdam, swats_adam);

}  // namespace pyfastopt::rules
