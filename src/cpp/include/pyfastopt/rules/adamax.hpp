// pyfastopt/rules/adamax.hpp: AdaMax, Adam's infinity-norm variant (Kingma & Ba 2015, sec. 7;
// torch.optim.Adamax).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// m <- b1 m + (1-b1) g;  u <- max(b2 u, |g| + eps);  p <- p - lr/(1-b1^t) * m / u.
struct Adamax {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_inf"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T beta1, one_minus_beta1, beta2, eps;
        T neg_clr;  ///< -lr / (1 - beta1^t)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& u = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        m = c.beta1 * m + c.one_minus_beta1 * g;
        const T abs_g = g < T(0) ? -g : g;
        u = max(c.beta2 * u, abs_g + c.eps);
        p = p + c.neg_clr * (m / u);
    }
};

PFO_RULE(Adamax, adamax);

}  // namespace pyfastopt::rules
