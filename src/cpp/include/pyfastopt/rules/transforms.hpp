// pyfastopt/rules/transforms.hpp: element-wise transforms around the optimizer rules:
// gradient clipping, scaling and parameter averaging. Same contract as the rules (see
// common.hpp); those with kReadsGrad = false are run with the written array as `g` too.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// x <- clamp(scale * x, lower, upper): clipping by value (scale 1) and the rescaling of
/// clipping by norm (bounds +-inf). NaN stays NaN. Reads no gradient.
struct ScaleClamp {
    static constexpr bool kReadsGrad = false;
    static constexpr int kStates = 0;
    static constexpr const char* kStateNames[] = {""};
    template <class T>
    struct Coeffs {
        T scale, lower, upper;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& x, T /*unused*/, T* /*s*/) {
        x = clamp(c.scale * x, c.lower, c.upper);
    }
};

/// Exponential moving average of a parameter: avg <- decay avg + (1 - decay) p, with the
/// average as the written array and the parameter as the gradient slot. Polyak averaging
/// is decay_t = t / (t + 1).
struct Ema {
    static constexpr int kStates = 0;
    static constexpr const char* kStateNames[] = {""};
    template <class T>
    struct Coeffs {
        T decay, one_minus_decay;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& avg, T p, T* /*s*/) {
        avg = c.decay * avg + c.one_minus_decay * p;
    }
};

/// Reduces sum(x^2) in double (for the global norm of clipping by norm). Writes nothing
/// (kWrites: the CPU loop stores nothing back).
struct SumSquares {
    static constexpr bool kReadsGrad = false;
    static constexpr bool kWrites = false;
    static constexpr int kStates = 0;
    static constexpr int kReductions = 1;
    static constexpr const char* kStateNames[] = {""};
    template <class T>
    struct Coeffs {
        T unused;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>&, T& x, T, T*, double* sums) {
        sums[0] += double(x) * double(x);
    }
};

PFO_RULE(ScaleClamp, scale_clamp);
PFO_RULE(Ema, ema);
PFO_REDUCING_RULE(SumSquares, sum_squares);

}  // namespace pyfastopt::rules
