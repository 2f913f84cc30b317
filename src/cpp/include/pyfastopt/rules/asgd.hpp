// pyfastopt/rules/asgd.hpp: averaged SGD (Polyak & Juditsky 1992; the decaying-rate form of
// Bottou 2012, "Stochastic Gradient Descent Tricks"), as torch.optim.ASGD.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- (1 - lambd eta) p - eta g;  ax <- ax + mu (p - ax), or ax <- p when mu == 1 (torch
/// copies then, so the average is p exactly until averaging starts at step t0).
/// eta and mu are the previous step's (scalar state, computed by the caller).
struct Asgd {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"ax"};
    static constexpr bool kSignedStates[] = {true};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T decay;    ///< 1 - lambd * eta
        T neg_eta;  ///< -eta
        T mu;       ///< averaging weight, 1 before t0
        T nan;      ///< a NaN (see apply)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& ax = s[0];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        p = c.decay * p + c.neg_eta * g;
        // `ax == c.nan` is never true, but it reads ax in the copy too: GCC otherwise unswitches
        // the loop into a store-only stream for ax, half as fast on the Intel VMs (bench: 55%
        // of the ceiling at 2^26 against SGD's 92% for the same bytes).
        ax = c.mu != T(1) || ax == c.nan ? ax + c.mu * (p - ax) : p;
    }
};

PFO_RULE(Asgd, asgd);

}  // namespace pyfastopt::rules
