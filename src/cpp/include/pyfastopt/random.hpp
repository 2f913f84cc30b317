// pyfastopt/random.hpp: Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy
// as 1, 2, 3"), a counter-based generator: the numbers are a pure function of (counter, key),
// so any element can be drawn by any thread, in any order, on the CPU or a GPU.
#pragma once

#include <cmath>
#include <cstdint>

#include "config.hpp"

namespace pyfastopt::random {

struct Philox4x32 {
    std::uint32_t v[4];
};

/// Philox4x32 with 10 rounds of the block cipher on `counter` under `key`.
PFO_HD inline Philox4x32 philox4x32_10(Philox4x32 counter, std::uint32_t key0, std::uint32_t key1) {
    constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
    constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        const std::uint64_t p0 = std::uint64_t{kM0} * counter.v[0];
        const std::uint64_t p1 = std::uint64_t{kM1} * counter.v[2];
        counter = {{static_cast<std::uint32_t>(p1 >> 32) ^ counter.v[1] ^ key0,
                    static_cast<std::uint32_t>(p1),
                    static_cast<std::uint32_t>(p0 >> 32) ^ counter.v[3] ^ key1,
                    static_cast<std::uint32_t>(p0)}};
        key0 += kW0;
        key1 += kW1;
    }
    return counter;
}

/// A standard normal draw from one Philox block (Box-Muller in double, 53-bit uniforms).
PFO_HD inline double standard_normal(Philox4x32 bits) {
    constexpr double k2Pow53 = 9007199254740992.0;
    const double u1 =  // in (0, 1]: the logarithm stays finite
        (double((std::uint64_t{bits.v[0]} >> 5 << 26) | (bits.v[1] >> 6)) + 1.0) / k2Pow53;
    const double u2 = double((std::uint64_t{bits.v[2]} >> 5 << 26) | (bits.v[3] >> 6)) / k2Pow53;
    using std::cos;
    using std::log;
    using std::sqrt;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

}  // namespace pyfastopt::random
