// pyfastopt/storage.hpp: how a buffer is stored when it is not in the compute dtype:
// bfloat16, float16, or blockwise 8-bit (bitsandbytes' dynamic maps), and the conversions
// between each and float32. Public, Python-free.
//
// The rules compute in float32 (float64 for float64 parameters); a buffer in another
// storage is converted when the CPU loop loads it and when it stores it back
// (cpu/mixed-inl.hpp), so every rule takes every storage without a line of its own.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "config.hpp"

namespace pyfastopt {

/// The storage of one buffer.
enum class Storage : std::uint8_t {
    kFloat32,
    kFloat64,
    kBFloat16,
    kFloat16,
    kQ8Signed,    ///< uint8 codes into the signed dynamic map, one float32 absmax per block
    kQ8Unsigned,  ///< the same with the unsigned map (for non-negative states)
};

/// Elements per absmax of a blockwise 8-bit buffer (bitsandbytes' block size).
inline constexpr std::size_t kQuantBlock = 256;

/// One buffer of one tensor: its elements (in `type`) and, for 8-bit storage, its absmax
/// (ceil(n / kQuantBlock) floats, one per block).
struct Stored {
    void* data = nullptr;
    Storage type = Storage::kFloat32;
    float* absmax = nullptr;
};

/// A call of one rule on tensors whose buffers may be stored in any Storage (computed in
/// float32). When `copies` is set, params are float32 master weights and copies[t] is the
/// 16-bit model parameter written from the updated master in the same pass.
template <int K>
struct MixedBatch {
    std::size_t count = 0;
    const std::size_t* sizes = nullptr;
    const Stored* params = nullptr;
    const Stored* grads = nullptr;
    std::array<const Stored*, K> states{};
    const Stored* copies = nullptr;
    float grad_unscale = 1.0f;  ///< gradients are multiplied by it when loaded (1 / grad_scale)
    bool stochastic = false;    ///< stochastic rounding of every float32 -> bfloat16 store
    std::uint64_t seed = 0;     ///< of the rounding stream, keyed by (seed, step, tensor, element)
    std::uint64_t step = 0;
    std::uint64_t first_tensor = 0;  ///< the index of tensor 0 in the caller's numbering
};

/// The MixedBatch over per-tensor vectors (sizes, and a Stored per tensor of each role;
/// empty copies: no master copy-out).
template <int K, class Sizes, class StoredList>
MixedBatch<K> mixed_batch(const Sizes& sizes,
                          const StoredList& params,
                          const StoredList& grads,
                          const std::array<StoredList, K>& states,
                          const StoredList& copies) {
    MixedBatch<K> b;
    b.count = sizes.size();
    b.sizes = sizes.data();
    b.params = params.data();
    b.grads = grads.data();
    for (int k = 0; k < K; ++k) b.states[k] = states[k].data();
    b.copies = copies.empty() ? nullptr : copies.data();
    return b;
}

namespace storage {

PFO_HD PFO_INLINE std::uint32_t bits_of(float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

PFO_HD PFO_INLINE float float_of(std::uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

/// bfloat16 -> float32: exact (the high half of the float's bits).
PFO_HD PFO_INLINE float bf16_to_float(std::uint16_t h) {
    return float_of(std::uint32_t{h} << 16);
}

/// float32 -> bfloat16 rounded to nearest, ties to even, in the high half of the result (the
/// low half is not cleared: the CPU loops pack two results into one word). Integer
/// arithmetic, so it vectorises on any ISA; a NaN stays a (quiet) NaN of the same sign.
PFO_HD PFO_INLINE std::uint32_t float_to_bf16_high(float x) {
    const std::uint32_t u = bits_of(x);
    // (a float compare for NaN: one instruction fewer per vector than the integer test)
    return x != x ? u | 0x00400000u : u + 0x7FFFu + ((u >> 16) & 1u);
}

/// float32 -> bfloat16 rounded to nearest, ties to even.
PFO_HD PFO_INLINE std::uint16_t float_to_bf16(float x) {
    return static_cast<std::uint16_t>(float_to_bf16_high(x) >> 16);
}

/// float32 -> bfloat16 rounded stochastically, in the high half as float_to_bf16_high: up
/// with probability equal to the dropped fraction, given 16 uniform random bits.
/// E[result] = x (unbiased); inf and NaN stay.
PFO_HD PFO_INLINE std::uint32_t float_to_bf16_stochastic_high(float x, std::uint32_t random16) {
    const std::uint32_t u = bits_of(x);
    const bool special = (u & 0x7F800000u) == 0x7F800000u;  // inf or NaN: nothing to round
    const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    return special ? u | (nan ? 0x00400000u : 0u) : u + (random16 & 0xFFFFu);  // may carry to inf
}

/// float32 -> bfloat16 rounded stochastically.
PFO_HD PFO_INLINE std::uint16_t float_to_bf16_stochastic(float x, std::uint32_t random16) {
    return static_cast<std::uint16_t>(float_to_bf16_stochastic_high(x, random16) >> 16);
}

/// float16 <-> float32, IEEE round to nearest even, with integer arithmetic only (the
/// per-ISA code uses F16C or AVX-512 FP16 instead where the CPU has them; same results).
PFO_HD PFO_INLINE float f16_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    // normal: rebias 15 -> 127; subnormal: the value man * 2^-24, exact in float32
    const float normal = float_of(sign | ((exp + 112u) << 23) | (man << 13));
    const float subnormal = float_of(sign | bits_of(float(man) * 5.9604644775390625e-8f));
    const float special = float_of(sign | 0x7F800000u | (man << 13) | (man ? 0x400000u : 0u));
    return exp == 0 ? subnormal : (exp == 31 ? special : normal);
}

PFO_HD PFO_INLINE std::uint16_t float_to_f16(float x) {
    const std::uint32_t u = bits_of(x);
    const std::uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
    // normal range: rebias the exponent and round the mantissa to 10 bits (ties to even);
    // a carry out of the mantissa correctly bumps the exponent, up to inf
    const std::uint32_t normal = ((a - (112u << 23)) + 0xFFFu + ((a >> 13) & 1u)) >> 13;
    // below 2^-14: x * 2^24 rounded to an integer is the subnormal's mantissa; adding
    // 0.5 (the float 2^-1 magic) lets the FPU round it to nearest even
    const std::uint32_t sub = bits_of(float_of(a) + 0.5f) - 0x3F000000u;
    const std::uint32_t nan = 0x7E00u | ((a >> 13) & 0x3FFu);
    std::uint32_t h =
        a >= 0x47800000u ? (a > 0x7F800000u ? nan : 0x7C00u) : (a < 0x38800000u ? sub : normal);
    return static_cast<std::uint16_t>(sign | h);
}

}  // namespace storage

namespace q8 {

/// A dynamic map: 256 float32 codes in increasing order (bitsandbytes'
/// create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)): seven decades
/// 10^-6..10^0, each split into linearly spaced steps (1, 2, 4, ..., 64 for the signed map,
/// twice as many for the unsigned one), plus 0 and 1. Each code is computed in double and
/// rounded once (bitsandbytes computes in float32: some codes differ by up to two ulps).
struct Map {
    float code[256];
    /// The nearest code of y, as an integer lookup: y's magnitude in [2^-23, 1) is cut into
    /// kBuckets buckets by the top bits of its float (exponent and 8 mantissa bits); within a
    /// bucket at most one decision boundary lies (the codes are more than a bucket apart),
    /// so bucket[b] packs the magnitude rank at the bucket's start (low 8 bits) and the low
    /// 15 bits of the boundary (bits 8..22; 0x7FFF: none): rank = start + (low15(y) > that).
    static constexpr std::uint32_t kFirstExponent = 104;  ///< 2^-23: below, every y is 0
    static constexpr std::uint32_t kBuckets = (127 - kFirstExponent) << 8;
    std::uint32_t bucket[kBuckets];
    std::uint32_t top_rank;  ///< the rank of 1 (magnitude 1 and beyond)
    bool is_signed;
    /// The same decision as a table to search (the CUDA kernels' form): boundary[r] is the
    /// largest float <= the midpoint of magnitude ranks r and r + 1 (+inf past the last);
    /// the rank of a is the number of boundaries below it.
    float boundary[256];
    /// The same decision as arithmetic, for SIMD without a fast gather (AVX-512: 16-lane
    /// permutes of these tables). The ladder is linear within each decade: decade k = 0 is
    /// the code 0, 1..7 the seven decades, 8 the code 1; it holds ranks [first[k], last[k]].
    /// The binary exponent e of a, clamped to [103, 127], picks slot e & 31: the decade at
    /// its octave's start (slot_decade) and the one decade boundary that may lie inside
    /// (slot_threshold, +inf: none). In decade k, r = max(first, trunc(a * inv_step + offset))
    /// is the rank or one below it (offset is 0.01 low), and a > boundary[r] settles it:
    /// boundary[r] is fma(r, step, mid0) (its linear estimate) plus `nibbles` (4 signed bits
    /// per rank, eight ranks a word) ulps.
    struct Decades {
        std::int32_t slot_decade[32];
        float slot_threshold[32];
        float inv_step[16], offset[16], step[16], mid0[16];
        std::int32_t first[16], last[16];
        std::uint32_t nibbles[32];
    };
    alignas(64) Decades decades;
};

/// The code index of magnitude rank r for a value of sign `negative` (see magnitude_rank).
PFO_HD PFO_INLINE std::uint8_t index_of(bool is_signed, std::uint32_t rank, bool negative) {
    if (!is_signed) return static_cast<std::uint8_t>(negative ? 0 : rank);
    return static_cast<std::uint8_t>(negative ? 127 - (rank < 127 ? rank : 127) : 127 + rank);
}

/// The nearest code of y by searching `boundary` (ties toward zero; NaN as magnitude_rank
/// has it: the top rank): the CUDA kernels' form of encode().
PFO_HD PFO_INLINE std::uint8_t encode_searching(const float* boundary, bool is_signed, float y) {
    const float a = y < 0 ? -y : y;
    std::uint32_t rank = 0;
    for (std::uint32_t half = 128; half > 0; half >>= 1)
        rank += a > boundary[rank + half - 1] ? half : 0;
    if (a != a) rank = is_signed ? 128 : 255;
    return index_of(is_signed, rank, y < 0);
}

/// The magnitude rank of a in [0, inf): 0 for the code 0, then the codes of the non-negative
/// half in increasing order (the signed map: 1..127 and 128 for 1; the unsigned map: 1..255).
/// Nearest, ties toward zero.
inline std::uint32_t magnitude_rank(const Map& m, float a) {
    const std::uint32_t u = storage::bits_of(a);
    if (u < (Map::kFirstExponent << 23)) return 0;
    if (u >= 0x3F800000u) return m.top_rank;  // a >= 1 (and NaN, which never gets here)
    const std::uint32_t e = m.bucket[(u >> 15) - (Map::kFirstExponent << 8)];
    return (e & 0xFFu) + ((u & 0x7FFFu) > (e >> 8) ? 1u : 0u);
}

/// The nearest code of y (|y| <= 1; NaN gives the code of 0).
inline std::uint8_t encode(const Map& m, float y) {
    return index_of(m.is_signed, magnitude_rank(m, std::fabs(y)), y < 0);
}

/// Map::decades of a map whose codes and boundaries are set (aborts where an assumption of
/// the arithmetic fails: it never does for the two maps).
inline Map::Decades make_decades(const Map& m) {
    Map::Decades t{};
    std::uint32_t count[9] = {1};
    for (int d = 0; d < 7; ++d) count[d + 1] = m.is_signed ? 1u << d : 2u << d;
    count[8] = 1;
    for (int k = 0, r = 0; k < 9; r += static_cast<int>(count[k++])) {
        t.first[k] = r;
        t.last[k] = r + static_cast<int>(count[k]) - 1;
    }
    if (static_cast<std::uint32_t>(t.first[8]) != m.top_rank) std::abort();
    for (int k = 1; k < 8; ++k) {  // codes a + j * b, j < count, in decade 10^(k - 7)
        const double decade = std::pow(10.0, k - 7), n = count[k];
        const double a = static_cast<float>(decade * (0.1 + 0.45 / n));
        const float b = static_cast<float>(decade * 0.9 / n);
        t.step[k] = b;
        t.inv_step[k] = 1.0f / b;
        t.offset[k] = static_cast<float>(t.first[k] + 0.49 - a * t.inv_step[k]);
        t.mid0[k] = static_cast<float>(a + (0.5 - t.first[k]) * b);
        for (int r = t.first[k]; r < t.last[k]; ++r) {
            const float estimate = std::fma(static_cast<float>(r), b, t.mid0[k]);
            const auto ulps = static_cast<std::int32_t>(storage::bits_of(m.boundary[r]) -
                                                        storage::bits_of(estimate));
            if (ulps < -8 || ulps > 7) std::abort();
            t.nibbles[r >> 3] |= (static_cast<std::uint32_t>(ulps) & 0xFu) << (4 * (r & 7));
        }
    }
    for (int slot = 0; slot < 32; ++slot) t.slot_threshold[slot] = INFINITY;
    t.slot_decade[31] = 8;  // 1 and beyond, NaN; slot 7 (below 2^-23): decade 0
    for (int e = Map::kFirstExponent; e < 127; ++e) {
        const float lo = std::ldexp(1.0f, e - 127), hi = 2 * lo;
        int k = 0;  // boundary[first[k + 1] - 1] starts decade k + 1
        while (k < 8 && m.boundary[t.first[k + 1] - 1] < lo) ++k;
        t.slot_decade[e & 31] = k;
        if (k < 8 && m.boundary[t.first[k + 1] - 1] < hi) {
            t.slot_threshold[e & 31] = m.boundary[t.first[k + 1] - 1];
            if (k < 7 && m.boundary[t.first[k + 2] - 1] < hi) std::abort();  // two in one octave
        }
    }
    return t;
}

inline Map make_map(bool is_signed) {
    static constexpr double kDecade[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    double values[256];
    int n = 0;
    for (int d = 0; d < 7; ++d) {
        const int steps = is_signed ? 1 << d : 2 << d;
        for (int j = 0; j < steps; ++j) {
            const double v = kDecade[d] * (0.1 + 0.9 * (j + 0.5) / steps);
            values[n++] = v;
            if (is_signed) values[n++] = -v;
        }
    }
    values[n++] = 0.0;
    values[n++] = 1.0;
    // n == 256; sort (insertion: 256 values, once)
    for (int i = 1; i < 256; ++i)
        for (int k = i; k > 0 && values[k - 1] > values[k]; --k) {
            const double t = values[k];
            values[k] = values[k - 1];
            values[k - 1] = t;
        }
    Map m{};
    m.is_signed = is_signed;
    for (int i = 0; i < 256; ++i) m.code[i] = static_cast<float>(values[i]);
    // the magnitude ladder (0, then the positive codes) and the boundaries between its
    // steps: the largest float <= each midpoint (so ties go toward zero)
    const float* ladder = is_signed ? m.code + 127 : m.code;
    const std::uint32_t steps = is_signed ? 129 : 256;
    m.top_rank = steps - 1;
    float* boundary = m.boundary;
    for (std::uint32_t i = 0; i < 256; ++i) boundary[i] = INFINITY;
    for (std::uint32_t i = 0; i + 1 < steps; ++i) {
        const double mid = (double(ladder[i]) + double(ladder[i + 1])) / 2;  // exact
        float t = static_cast<float>(mid);
        if (double(t) > mid) t = std::nextafter(t, -1.0f);
        boundary[i] = t;
    }
    if (storage::bits_of(boundary[0]) < (Map::kFirstExponent << 23)) std::abort();
    std::uint32_t rank = 0;
    for (std::uint32_t b = 0; b < Map::kBuckets; ++b) {
        const std::uint32_t first = ((Map::kFirstExponent << 8) + b) << 15;  // float bits
        const std::uint32_t last = first | 0x7FFFu;
        while (rank + 1 < steps && storage::bits_of(boundary[rank]) < first) ++rank;
        std::uint32_t low = 0x7FFFu;  // no boundary inside: never above it
        if (rank + 1 < steps && storage::bits_of(boundary[rank]) <= last) {
            low = storage::bits_of(boundary[rank]) & 0x7FFFu;
            // a second boundary in one bucket would need another bit: the maps have none
            if (rank + 2 < steps && storage::bits_of(boundary[rank + 1]) <= last) std::abort();
        }
        m.bucket[b] = rank | (low << 8);
    }
    m.decades = make_decades(m);
    return m;
}

/// The two maps, built once.
inline const Map& map(bool is_signed) {
    static const Map kSigned = make_map(true), kUnsigned = make_map(false);
    return is_signed ? kSigned : kUnsigned;
}

}  // namespace q8
}  // namespace pyfastopt
