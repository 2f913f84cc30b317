// pyfastopt/rules/radam.hpp: RAdam, rectified Adam (Liu et al. 2020; torch.optim.RAdam).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  m, v as Adam;
/// rectified step (rho_t > 5): p <- p - lr r_t / bc1 * m * sqrt(bc2) / (sqrt(v) + eps);
/// otherwise (warm-up, SGD with momentum): p <- p - lr / bc1 * m.
struct Radam {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay, decay;
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T rectified;  ///< 1 when rho_t > 5, else 0
        T sqrt_bc2, eps;
        T neg_step;  ///< -lr r_t / bc1 when rectified, else -lr / bc1
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        p = c.decay * p;
        update_moments(c, g, m, v);
        const T update = c.rectified != T(0) ? m * (c.sqrt_bc2 / (sqrt(v) + c.eps)) : m;
        p = p + c.neg_step * update;
    }
};

PFO_RULE(Radam, radam);

}  // namespace pyfastopt::rules
