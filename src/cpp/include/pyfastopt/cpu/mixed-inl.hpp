// pyfastopt/cpu/mixed-inl.hpp: the CPU driver for buffers stored in reduced precision
// (storage.hpp): bfloat16/float16 parameters, gradients and states, blockwise 8-bit states,
// float32 master weights with a 16-bit copy, stochastic rounding. Re-included per target,
// as loop-inl.hpp.
//
// One streaming pass: each block of a tensor is walked in tiles of kTile elements; a tile
// of every buffer not stored in float32 is converted into a small float32 array (L1
// resident), the rule's own loop (run_block, unchanged) runs on the tile, and the tile is
// converted back. float32 buffers are used in place. Memory traffic is the stored bytes
// only; the rule is written once and every storage comes from here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "../coeffs.hpp"
#include "../random.hpp"
#include "../storage.hpp"
#include "loop-inl.hpp"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define PFO_F16C 1  // float16 conversions with vcvtph2ps / vcvtps2ph, eight at a time
#endif

namespace pyfastopt::PFO_CPU_NAMESPACE {

/// Elements per tile: a multiple of the 8-bit quantization block.
inline constexpr std::size_t kTile = 2 * kQuantBlock;
static_assert(kBlock % kTile == 0, "tiles never straddle a block");

namespace mixed {

/// y[i] = float(x[i]) * scale for float16 x.
inline void f16_to_float(const std::uint16_t* x, std::size_t n, float scale, float* y) {
    std::size_t i = 0;
#if defined(PFO_F16C)
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtph_ps(h), s));
    }
#endif
    for (; i < n; ++i) y[i] = storage::f16_to_float(x[i]) * scale;
}

/// y[i] = float16(x[i]), rounded to nearest even.
inline void float_to_f16(const float* x, std::size_t n, std::uint16_t* y) {
    std::size_t i = 0;
#if defined(PFO_F16C)
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
    }
#endif
    for (; i < n; ++i) y[i] = storage::float_to_f16(x[i]);
}

/// The float32 values of elements [lo, lo + n) of `s`, times `scale`: `s` itself when it
/// is float32 and scale is 1, else converted into `tile`.
PFO_ONE_COPY inline float* load(const Stored& s, std::size_t lo, std::size_t n, float* tile,
                                float scale) {
    switch (s.type) {
        case Storage::kFloat32: {
            float* x = static_cast<float*>(s.data) + lo;
            if (scale == 1.0f) return x;
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) tile[i] = x[i] * scale;
            return tile;
        }
        case Storage::kBFloat16: {
            const std::uint16_t* x = static_cast<const std::uint16_t*>(s.data) + lo;
#pragma omp simd
            for (std::size_t i = 0; i < n; ++i) tile[i] = storage::bf16_to_float(x[i]) * scale;
            return tile;
        }
        case Storage::kFloat16: {
            f16_to_float(static_cast<const std::uint16_t*>(s.data) + lo, n, scale, tile);
            return tile;
        }
        case Storage::kQ8Signed:
        case Storage::kQ8Unsigned: {
            const float* code = q8::map(s.type == Storage::kQ8Signed).code;
            const std::uint8_t* q = static_cast<const std::uint8_t*>(s.data) + lo;
            for (std::size_t b = 0; b < n; b += kQuantBlock) {
                const float amax = s.absmax[(lo + b) / kQuantBlock];
                const std::size_t end = std::min(n, b + kQuantBlock);
#pragma omp simd
                for (std::size_t i = b; i < end; ++i) tile[i] = code[q[i]] * amax;
            }
            return tile;
        }
        default:  // float64 never reaches the float32 driver
            return tile;
    }
}

/// 16 random bits per element for stochastic rounding, from Philox keyed by (seed, step,
/// tensor, buffer, element): one Philox block gives eight elements their bits.
PFO_ONE_COPY inline void random_bits(std::uint64_t seed, std::uint64_t step, std::uint64_t tensor,
                                     int buffer, std::size_t lo, std::size_t n,
                                     std::uint32_t* out) {
    const std::size_t first = lo / 8, groups = (n + 7) / 8;
    const std::uint32_t word3 =
        static_cast<std::uint32_t>(step) ^ (static_cast<std::uint32_t>(buffer) << 28);
#pragma omp simd
    for (std::size_t j = 0; j < groups; ++j) {
        const std::uint64_t group = first + j;
        const random::Philox4x32 counter{{static_cast<std::uint32_t>(group),
                                          static_cast<std::uint32_t>(group >> 32),
                                          static_cast<std::uint32_t>(tensor), word3}};
        const auto r = random::philox4x32_10(counter, static_cast<std::uint32_t>(seed),
                                             static_cast<std::uint32_t>(seed >> 32));
        for (int w = 0; w < 4; ++w) {
            out[8 * j + 2 * w] = r.v[w] & 0xFFFFu;
            out[8 * j + 2 * w + 1] = r.v[w] >> 16;
        }
    }
}

/// Rounding of one store: to nearest even, or stochastic with these bits.
struct Rounding {
    const std::uint32_t* random = nullptr;  ///< 16 bits per element, or null
};

/// Writes the tile x[0, n) back to elements [lo, lo + n) of `s` (nothing if `s` is float32
/// and x is `s` itself).
PFO_ONE_COPY inline void store(const Stored& s, std::size_t lo, std::size_t n, const float* x,
                               Rounding rounding) {
    switch (s.type) {
        case Storage::kFloat32: {
            float* y = static_cast<float*>(s.data) + lo;
            if (y != x) std::copy(x, x + n, y);
            return;
        }
        case Storage::kBFloat16: {
            std::uint16_t* y = static_cast<std::uint16_t*>(s.data) + lo;
            if (rounding.random != nullptr) {
                const std::uint32_t* r = rounding.random;
#pragma omp simd
                for (std::size_t i = 0; i < n; ++i)
                    y[i] = storage::float_to_bf16_stochastic(x[i], r[i]);
            } else {
#pragma omp simd
                for (std::size_t i = 0; i < n; ++i) y[i] = storage::float_to_bf16(x[i]);
            }
            return;
        }
        case Storage::kFloat16: {
            float_to_f16(x, n, static_cast<std::uint16_t*>(s.data) + lo);
            return;
        }
        case Storage::kQ8Signed:
        case Storage::kQ8Unsigned: {
            const float* threshold = q8::map(s.type == Storage::kQ8Signed).threshold;
            std::uint8_t* q = static_cast<std::uint8_t*>(s.data) + lo;
            for (std::size_t b = 0; b < n; b += kQuantBlock) {
                const std::size_t end = std::min(n, b + kQuantBlock);
                float amax = 0;
                bool finite = true;  // a non-finite value poisons its block: absmax NaN
#pragma omp simd reduction(max : amax) reduction(&& : finite)
                for (std::size_t i = b; i < end; ++i) {
                    const float a = std::fabs(x[i]);
                    amax = std::max(amax, a);
                    finite = finite && a <= std::numeric_limits<float>::max();
                }
                if (!finite) amax = std::numeric_limits<float>::quiet_NaN();
                s.absmax[(lo + b) / kQuantBlock] = amax;
                const float inv = amax > 0 ? 1.0f / amax : 0.0f;  // NaN or 0: all codes 0
#pragma omp simd
                for (std::size_t i = b; i < end; ++i) {
                    const float y = x[i] * inv;
                    // branch-free binary search: the number of thresholds below y
                    std::uint32_t k = 0;
                    for (std::uint32_t half = 128; half > 0; half >>= 1)
                        k += y > threshold[k + half - 1] ? half : 0;
                    q[i] = static_cast<std::uint8_t>(k);
                }
            }
            return;
        }
        default:
            return;
    }
}

/// One block [begin, end) of tensor t, tile by tile.
template <class Rule, int K = Rule::kStates>
PFO_ONE_COPY void mixed_block(const CoeffsOf<Rule, float> c,
                              const MixedBatch<K>& b,
                              std::size_t t,
                              std::size_t begin,
                              std::size_t end,
                              double* sums) {
    (void)sums;
    // rows padded by a cache line: rows kTile * 4 bytes apart would alias each other's
    // addresses modulo 4 KiB and stall loads behind stores
    alignas(64) float tiles[K + 2][kTile + 16];
    alignas(64) std::uint32_t random[kTile];
    double total[2] = {0, 0};
    const std::uint64_t tensor = b.first_tensor + t;
    for (std::size_t lo = begin; lo < end; lo += kTile) {
        const std::size_t n = std::min(kTile, end - lo);
        float* p = load(b.params[t], lo, n, tiles[0], 1.0f);
        const float* g = ReadsGradient<Rule>::value
                             ? load(b.grads[t], lo, n, tiles[1], b.grad_unscale)
                             : p;
        std::array<float*, K> s{};
        for (int k = 0; k < K; ++k) s[k] = load(b.states[k][t], lo, n, tiles[2 + k], 1.0f);
        if constexpr (HasSums<Rule>::value) {
            double part[2] = {0, 0};
            run_block_reduce<Rule, float>(c, p, g, s, 0, n, part);
            total[0] += part[0];
            total[1] += part[1];
        } else {
            run_block<Rule, float>(c, p, g, s, t, 0, n, lo);
        }
        if constexpr (Writes<Rule>::value) {
            // stochastic rounding draws for every bfloat16 store but a master's copy
            auto rounding = [&](const Stored& dst, int buffer) {
                if (!b.stochastic || dst.type != Storage::kBFloat16) return Rounding{};
                random_bits(b.seed, b.step, tensor, buffer, lo, n, random);
                return Rounding{random};
            };
            store(b.params[t], lo, n, p, rounding(b.params[t], 0));
            for (int k = 0; k < K; ++k)
                store(b.states[k][t], lo, n, s[k], rounding(b.states[k][t], 1 + k));
            if (b.copies != nullptr) store(b.copies[t], lo, n, p, Rounding{});
        }
    }
    if constexpr (HasSums<Rule>::value)
        for (int j = 0; j < Rule::kReductions; ++j) sums[j] = total[j];
}

}  // namespace mixed

/// Applies Rule (computing in float32) to every element of a batch in mixed storage.
template <class Rule>
void run_mixed(const CoeffsOf<Rule, float>& c, const MixedBatch<Rule::kStates>& b, int threads) {
    for_each_block(b.sizes, b.count, threads,
                   [&](std::size_t t, std::size_t begin, std::size_t end, std::size_t) {
                       mixed::mixed_block<Rule>(c, b, t, begin, end, nullptr);
                   });
}

/// run_mixed for a rule that reduces sums: as run_reduce, block sums added in order.
template <class Rule>
void run_mixed_reduce(const CoeffsOf<Rule, float>& c,
                      const MixedBatch<Rule::kStates>& b,
                      int threads,
                      double* sums) {
    reduce_blocks<Rule>(b.sizes, b.count, threads, sums,
                        [&](std::size_t t, std::size_t begin, std::size_t end, double* out) {
                            mixed::mixed_block<Rule>(c, b, t, begin, end, out);
                        });
}

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
