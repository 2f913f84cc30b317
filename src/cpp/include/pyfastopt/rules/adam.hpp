// pyfastopt/rules/adam.hpp: Adam, AdamW and AMSGrad (Kingma & Ba 2015; Loshchilov & Hutter
// 2019; Reddi et al. 2018; torch.optim.Adam / AdamW).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
/// [AMSGrad: vmax <- max(vmax, v), v_hat = vmax, else v_hat = v]
/// p <- p - lr/bc1 * m / (sqrt(v_hat)/sqrt(bc2) + eps)  (the division by sqrt(bc2) is a
/// multiplication by its inverse: one division per element fewer).
template <bool Amsgrad>
struct Adam {
    static constexpr int kStates = 2 + Amsgrad;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T decay;  ///< 1 - lr * weight_decay when decoupled (AdamW), else 1
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T inv_sqrt_bc2;  ///< 1 / sqrt(1 - beta2^t), or 1 without bias correction
        T eps;
        T neg_step_size;  ///< -lr / (1 - beta1^t), or -lr without bias correction
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        p = c.decay * p;
        update_moments(c, g, m, v);
        T v_hat = v;
        if constexpr (Amsgrad) {
            s[2] = max(s[2], v);
            v_hat = s[2];
        }
        p = p + c.neg_step_size * (m / (sqrt(v_hat) * c.inv_sqrt_bc2 + c.eps));
    }
};

using AdamPlain = Adam<false>;
using AdamAmsgrad = Adam<true>;

PFO_RULE(AdamPlain, adam);
PFO_RULE(AdamAmsgrad, adam_amsgrad);

}  // namespace pyfastopt::rules
