// pyfastopt/factored.hpp: Adafactor (Shazeer & Stern 2018) as torch.optim.Adafactor: its
// per-step scalars and element math. Not a rule of the rule list: a matrix's second moment is
// the outer product of its row and column statistics, so an element's update depends on its
// row's and column's sums over the whole gradient, and the step size on the norms of the
// parameter and the update. The CPU driver (cpu/factored-inl.hpp, compiled per ISA) makes
// the passes over memory.
#pragma once

#include "config.hpp"
#include "rules/common.hpp"

namespace pyfastopt::factored {

/// The per-step scalars, computed by the caller in double (pyfastopt.functional.adafactor_).
struct AdafactorCoeffs {
    double grad_factor;      ///< -1 when maximizing, over grad_scale when there is one
    double one_minus_beta2;  ///< t^beta2_decay: the weight of this step's statistics
    double eps1;             ///< floor of the variance estimate's row mean; eps1^2 of the estimate
    double eps2;             ///< floor of the parameter's RMS in the step size
    double rho;              ///< min(lr, 1/sqrt(t))
    double decay;            ///< 1 - lr * weight_decay
    double d;                ///< clipping threshold of the update's RMS
};

/// The element math, shared by every driver.
template <class T>
struct AdafactorElement {
    /// The unclipped update of gradient g given its variance estimate v.
    PFO_HD static PFO_INLINE T update(T g, T v, T eps1_sq) {
        return g / rules::sqrt(v < eps1_sq ? eps1_sq : v);
    }
};

}  // namespace pyfastopt::factored
