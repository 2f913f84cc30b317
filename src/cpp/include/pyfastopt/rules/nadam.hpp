// pyfastopt/rules/nadam.hpp: NAdam (Dozat 2016; torch.optim.NAdam).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  m, v as Adam;  d = sqrt(v) / sqrt(bc2) + eps;
/// p <- p + (a_g * g + a_m * m) / d, with the momentum schedule folded into a_g and a_m by
/// the caller (Dozat's mu_t schedule, or Ruder's simplified constant-beta1 form). One
/// division per element, not torch's three (v / bc2, g / d, m / d): the rule is then as
/// cheap as Adam's, and rounds differently from torch only in the last bits.
struct Nadam {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay, decay;
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T inv_sqrt_bc2;  ///< 1 / sqrt(1 - beta2^t)
        T eps;
        T neg_grad_coeff;  ///< -lr (1 - mu_t) / (1 - prod mu)
        T neg_avg_coeff;   ///< -lr mu_{t+1} / (1 - mu_{t+1} prod mu)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        p = c.decay * p;
        update_moments(c, g, m, v);
        const T denom = sqrt(v) * c.inv_sqrt_bc2 + c.eps;
        p = p + (c.neg_grad_coeff * g + c.neg_avg_coeff * m) / denom;
    }
};

PFO_RULE(Nadam, nadam);

}  // namespace pyfastopt::rules
