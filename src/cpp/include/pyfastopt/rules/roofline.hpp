// pyfastopt/rules/roofline.hpp: memory-pattern rules with trivial arithmetic, for benchmarks.
//
// Not optimizers: each one moves exactly the bytes of a real rule (same buffers, same driver,
// same threading and blocking) with one multiply-add per buffer, so its speed is the ceiling
// that rule can reach. Bound privately as _core._<name>; `pyfastopt bench` reports them.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// Adam's memory pattern (reads p, g, m, v; writes p, m, v):
/// p <- p + a g;  m <- m + b g;  v <- v + c g.  With a = b = c = 0 nothing changes.
struct AdamPattern {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"m", "v"};
    template <class T>
    struct Coeffs {
        T a, b, c;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        p = p + c.a * g;
        s[0] = s[0] + c.b * g;
        s[1] = s[1] + c.c * g;
    }
};

PFO_RULE(AdamPattern, _adam_pattern);

}  // namespace pyfastopt::rules
