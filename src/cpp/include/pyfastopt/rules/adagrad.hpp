// pyfastopt/rules/adagrad.hpp: Adagrad (Duchi et al. 2011; torch.optim.Adagrad).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// sum <- sum + g^2;  p <- p - clr * g / (sqrt(sum + eps_in) + eps_out).
/// torch puts eps outside the root (eps_in = 0); the textbook form puts it inside.
struct Adagrad {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"sum"};
    static constexpr bool kSignedStates[] = {false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T eps_in, eps_out;
        T neg_clr;  ///< -lr / (1 + (t - 1) * lr_decay)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& sum = s[0];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        sum = sum + g * g;
        p = p + c.neg_clr * (g / (sqrt(sum + c.eps_in) + c.eps_out));
    }
};

PFO_RULE(Adagrad, adagrad);

}  // namespace pyfastopt::rules
