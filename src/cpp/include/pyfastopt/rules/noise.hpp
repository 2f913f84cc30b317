// pyfastopt/rules/noise.hpp: annealed Gaussian gradient noise (Neelakantan et al. 2015).
#pragma once

#include <cstdint>

#include "../random.hpp"
#include "common.hpp"

namespace pyfastopt::rules {

/// g <- g + sigma_t * z, z ~ N(0, 1) drawn by Philox from (seed, step, tensor, element):
/// reproducible, and independent of how elements are split between threads. The caller
/// passes sigma_t = sqrt(eta / (1 + t)^gamma). Reads no gradient: runs on the gradient.
struct GradientNoise {
    static constexpr bool kReadsGrad = false;
    static constexpr bool kIndexed = true;
    static constexpr int kStates = 0;
    static constexpr const char* kStateNames[] = {""};
    template <class T>
    struct Coeffs {
        std::uint64_t seed, step;
        double sigma;
        std::uint64_t first_tensor;  ///< the index of the call's first array in its list
    };
    template <class T, class Index>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& g, T, T*, Index at) {
        const random::Philox4x32 counter{{static_cast<std::uint32_t>(at.index),
                                          static_cast<std::uint32_t>(at.index >> 32),
                                          static_cast<std::uint32_t>(at.tensor + c.first_tensor),
                                          static_cast<std::uint32_t>(c.step)}};
        const auto bits = random::philox4x32_10(counter, static_cast<std::uint32_t>(c.seed),
                                                static_cast<std::uint32_t>(c.seed >> 32));
        g = static_cast<T>(double(g) + c.sigma * random::standard_normal(bits));
    }
};

}  // namespace pyfastopt::rules
