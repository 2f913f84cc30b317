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
#include <cstring>
#include <limits>

#include "../coeffs.hpp"
#include "../random.hpp"
#include "../storage.hpp"
#include "loop-inl.hpp"

#if defined(__AVX2__) || defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__F16C__) && defined(__AVX__)
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

/// out[i] = code[q[i]] * scale: 8-bit values decoded (with AVX-512 permutes of the table
/// held in 16 registers, or AVX2 gathers, where the target has them: GCC does not emit
/// gathers for its generic tuning, and gathers are slow on AMD).
inline void q8_decode(
    const std::uint8_t* q, std::size_t n, const float* code, float scale, float* out) {
    std::size_t i = 0;
#if defined(__AVX512F__)
    __m512 table[16];
    for (int k = 0; k < 16; ++k) table[k] = _mm512_loadu_ps(code + 16 * k);
    const __m512 s = _mm512_set1_ps(scale);
    for (; i + 16 <= n; i += 16) {
        const __m512i idx =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)));
        __m512 v[8];  // code[idx] for idx's bits 5-7 = k; then pick by those bits
        for (int k = 0; k < 8; ++k)
            v[k] = _mm512_permutex2var_ps(table[2 * k], idx, table[2 * k + 1]);
        for (int bit = 5, half = 4; bit < 8; ++bit, half /= 2) {
            const __mmask16 m = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(1 << bit));
            for (int k = 0; k < half; ++k) v[k] = _mm512_mask_blend_ps(m, v[2 * k], v[2 * k + 1]);
        }
        _mm512_storeu_ps(out + i, _mm512_mul_ps(v[0], s));
    }
#elif defined(__AVX2__)
    const __m256 s = _mm256_set1_ps(scale);
    for (; i + 8 <= n; i += 8) {
        const __m256i idx =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_i32gather_ps(code, idx, 4), s));
    }
#endif
    for (; i < n; ++i) out[i] = code[q[i]] * scale;
}

/// q[i] = the nearest code of y[i] = x[i] * inv (q8::encode, vectorised: with AVX-512, by
/// q8::Map::decades' arithmetic; with AVX2, one gather of the bucket table per eight).
inline void q8_encode(const float* x, std::size_t n, float inv, const q8::Map& m, std::uint8_t* q) {
    std::size_t i = 0;
#if defined(__AVX512F__)
    const q8::Map::Decades& t = m.decades;
    auto ints = [](const std::int32_t* p) { return _mm512_loadu_si512(p); };
    const __m512i slot_decade[2] = {ints(t.slot_decade), ints(t.slot_decade + 16)};
    const __m512 slot_threshold[2] = {_mm512_loadu_ps(t.slot_threshold),
                                      _mm512_loadu_ps(t.slot_threshold + 16)};
    const __m512 inv_step = _mm512_loadu_ps(t.inv_step), offset = _mm512_loadu_ps(t.offset);
    const __m512 step = _mm512_loadu_ps(t.step), mid0 = _mm512_loadu_ps(t.mid0);
    const __m512i first = ints(t.first), last = ints(t.last);
    const __m512i nibbles[2] = {_mm512_loadu_si512(t.nibbles), _mm512_loadu_si512(t.nibbles + 16)};
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i one = _mm512_set1_epi32(1), seven = _mm512_set1_epi32(7);
    const __m512i c127 = _mm512_set1_epi32(127);  // the exponent of 1, the signed map's 0
    const __m512i below = _mm512_set1_epi32(static_cast<int>(q8::Map::kFirstExponent - 1));
    for (; i + 16 <= n; i += 16) {
        const __m512 y = _mm512_mul_ps(_mm512_loadu_ps(x + i), vinv);
        const __m512 a = _mm512_abs_ps(y);
        const __m512i u = _mm512_castps_si512(a);
        const __m512i e = _mm512_min_epi32(_mm512_max_epi32(_mm512_srli_epi32(u, 23), below), c127);
        __m512i d = _mm512_permutex2var_epi32(slot_decade[0], e, slot_decade[1]);
        const __m512 threshold = _mm512_permutex2var_ps(slot_threshold[0], e, slot_threshold[1]);
        d = _mm512_mask_add_epi32(d, _mm512_cmp_ps_mask(a, threshold, _CMP_GT_OQ), d, one);
        const __m512 estimate = _mm512_fmadd_ps(a, _mm512_permutexvar_ps(d, inv_step),
                                                _mm512_permutexvar_ps(d, offset));
        __m512i r =
            _mm512_max_epi32(_mm512_cvttps_epi32(estimate), _mm512_permutexvar_epi32(d, first));
        const __m512 line = _mm512_fmadd_ps(_mm512_cvtepi32_ps(r), _mm512_permutexvar_ps(d, step),
                                            _mm512_permutexvar_ps(d, mid0));
        const __m512i word =
            _mm512_permutex2var_epi32(nibbles[0], _mm512_srli_epi32(r, 3), nibbles[1]);
        const __m512i shift = _mm512_slli_epi32(_mm512_andnot_si512(r, seven), 2);  // to the top
        const __m512i ulps = _mm512_srai_epi32(_mm512_sllv_epi32(word, shift), 28);
        const __m512i boundary = _mm512_add_epi32(_mm512_castps_si512(line), ulps);
        r = _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(u, boundary), r, one);
        r = _mm512_min_epi32(r, _mm512_permutexvar_epi32(d, last));
        // y < 0 as the scalar code has it (not for -0 or NaN)
        const __mmask16 negative = _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ);
        const __m512i index = m.is_signed
                                  ? _mm512_mask_sub_epi32(_mm512_add_epi32(c127, r), negative, c127,
                                                          _mm512_min_epi32(r, c127))
                                  : _mm512_maskz_mov_epi32(static_cast<__mmask16>(~negative), r);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(index));
    }
#elif defined(__AVX2__)
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i first = _mm256_set1_epi32(static_cast<int>(q8::Map::kFirstExponent << 23));
    const __m256i one = _mm256_set1_epi32(0x3F800000);
    const __m256i low15 = _mm256_set1_epi32(0x7FFF), low8 = _mm256_set1_epi32(0xFF);
    const __m256i top = _mm256_set1_epi32(static_cast<int>(m.top_rank));
    const __m256i zero = _mm256_setzero_si256();
    const int* table = reinterpret_cast<const int*>(m.bucket);
    for (; i + 8 <= n; i += 8) {
        const __m256i y = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
        const __m256i u = _mm256_and_si256(y, abs_mask);
        const __m256i small = _mm256_cmpgt_epi32(first, u);  // |y| < 2^-23, or 0
        const __m256i big = _mm256_cmpgt_epi32(u, _mm256_sub_epi32(one, _mm256_set1_epi32(1)));
        // NaN (u > inf) lands in `big`; its block is NaN whatever its code
        const __m256i b =
            _mm256_sub_epi32(_mm256_srli_epi32(u, 15),
                             _mm256_set1_epi32(static_cast<int>(q8::Map::kFirstExponent << 8)));
        const __m256i safe = _mm256_andnot_si256(_mm256_or_si256(small, big), b);
        const __m256i e = _mm256_i32gather_epi32(table, safe, 4);
        __m256i rank = _mm256_sub_epi32(
            _mm256_and_si256(e, low8),
            _mm256_cmpgt_epi32(_mm256_and_si256(u, low15), _mm256_srli_epi32(e, 8)));  // +1
        rank = _mm256_blendv_epi8(rank, top, big);
        rank = _mm256_blendv_epi8(rank, zero, small);
        const __m256i negative =  // y < 0 as the scalar code has it (not for -0 or NaN)
            _mm256_castps_si256(
                _mm256_cmp_ps(_mm256_castsi256_ps(y), _mm256_setzero_ps(), _CMP_LT_OQ));
        __m256i index;
        if (m.is_signed) {
            const __m256i base = _mm256_set1_epi32(127);
            const __m256i neg = _mm256_sub_epi32(base, _mm256_min_epu32(rank, base));
            index = _mm256_blendv_epi8(_mm256_add_epi32(base, rank), neg, negative);
        } else {
            index = _mm256_andnot_si256(negative, rank);
        }
        // eight 32-bit indices -> eight bytes
        const __m128i lo = _mm256_castsi256_si128(index), hi = _mm256_extracti128_si256(index, 1);
        const __m128i words = _mm_packus_epi32(lo, hi);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packus_epi16(words, words));
    }
#endif
    for (; i < n; ++i) q[i] = q8::encode(m, x[i] * inv);
}

/// The float32 values of elements [lo, lo + n) of `s`, times `scale`: `s` itself when it
/// is float32 and scale is 1, else converted into `tile`.
PFO_ONE_COPY inline float* load(
    const Stored& s, std::size_t lo, std::size_t n, float* tile, float scale) {
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
            for (std::size_t b = 0; b < n; b += kQuantBlock)
                q8_decode(q + b, std::min(kQuantBlock, n - b), code,
                          s.absmax[(lo + b) / kQuantBlock], tile + b);
            return tile;
        }
        default:  // float64 never reaches the float32 driver
            return tile;
    }
}

/// 16 random bits per element for stochastic rounding, from Philox4x32-10 keyed by (seed,
/// step, tensor, buffer, element): one Philox block (counter: group of eight elements,
/// tensor, step ^ buffer << 28; key: seed) gives eight elements their bits. The same
/// function as random::philox4x32_10, written as structure of arrays with the rounds outside
/// so that the groups vectorise.
PFO_ONE_COPY inline void random_bits(std::uint64_t seed,
                                     std::uint64_t step,
                                     std::uint64_t tensor,
                                     int buffer,
                                     std::size_t lo,
                                     std::size_t n,
                                     std::uint32_t* out) {
    constexpr std::size_t kGroups = kTile / 8;
    const std::size_t first = lo / 8, groups = (n + 7) / 8;
    std::uint32_t c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
    const std::uint32_t word3 =
        static_cast<std::uint32_t>(step) ^ (static_cast<std::uint32_t>(buffer) << 28);
    for (std::size_t j = 0; j < groups; ++j) {
        c0[j] = static_cast<std::uint32_t>(first + j);
        c1[j] = static_cast<std::uint32_t>((first + j) >> 32);
        c2[j] = static_cast<std::uint32_t>(tensor);
        c3[j] = word3;
    }
    std::uint32_t key0 = static_cast<std::uint32_t>(seed),
                  key1 = static_cast<std::uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
#pragma omp simd
        for (std::size_t j = 0; j < groups; ++j) {
            const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c0[j];
            const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c2[j];
            const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1[j] ^ key0;
            const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3[j] ^ key1;
            c1[j] = static_cast<std::uint32_t>(p1);
            c3[j] = static_cast<std::uint32_t>(p0);
            c0[j] = n0;
            c2[j] = n2;
        }
        key0 += 0x9E3779B9u;
        key1 += 0xBB67AE85u;
    }
#pragma omp simd
    for (std::size_t j = 0; j < groups; ++j) {
        out[8 * j + 0] = c0[j] & 0xFFFFu;
        out[8 * j + 1] = c0[j] >> 16;
        out[8 * j + 2] = c1[j] & 0xFFFFu;
        out[8 * j + 3] = c1[j] >> 16;
        out[8 * j + 4] = c2[j] & 0xFFFFu;
        out[8 * j + 5] = c2[j] >> 16;
        out[8 * j + 6] = c3[j] & 0xFFFFu;
        out[8 * j + 7] = c3[j] >> 16;
    }
}

/// Rounding of one store: to nearest even, or stochastic with these bits.
struct Rounding {
    const std::uint32_t* random = nullptr;  ///< 16 bits per element, or null
};

/// Writes the tile x[0, n) back to elements [lo, lo + n) of `s` (nothing if `s` is float32
/// and x is `s` itself).
PFO_ONE_COPY inline void store(
    const Stored& s, std::size_t lo, std::size_t n, const float* x, Rounding rounding) {
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
            const q8::Map& map = q8::map(s.type == Storage::kQ8Signed);
            std::uint8_t* q = static_cast<std::uint8_t*>(s.data) + lo;
            for (std::size_t b = 0; b < n; b += kQuantBlock) {
                const std::size_t end = std::min(n, b + kQuantBlock);
                float amax = 0;
                unsigned nonfinite = 0;  // a non-finite value poisons its block: absmax NaN
#pragma omp simd reduction(max : amax) reduction(| : nonfinite)
                for (std::size_t i = b; i < end; ++i) {
                    const float a = std::fabs(x[i]);
                    amax = amax > a ? amax : a;
                    nonfinite |= a <= std::numeric_limits<float>::max() ? 0u : 1u;
                }
                if (nonfinite != 0) amax = std::numeric_limits<float>::quiet_NaN();
                s.absmax[(lo + b) / kQuantBlock] = amax;
                const float inv = amax > 0 ? 1.0f / amax : 0.0f;  // NaN or 0: all codes 0
                q8_encode(x + b, end - b, inv, map, q + b);
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
        const float* g =
            ReadsGradient<Rule>::value ? load(b.grads[t], lo, n, tiles[1], b.grad_unscale) : p;
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

/// Access to W = 1 or 2 neighbouring elements [at, at + W) of one storage, for the fused
/// loops. Two bfloat16 elements are one 32-bit word (the first in its low half): the
/// vectorised loop moves pairs with plain loads and stores, widening by a shift or a mask
/// and narrowing by one shift and an or, where single elements need shuffles. Stores round
/// to nearest even, or stochastically with 16 random bits per element.
template <Storage S>
struct Io;
template <>
struct Io<Storage::kFloat32> {
    template <int W>
    static PFO_INLINE void load(const void* base, std::size_t at, float (&x)[W]) {
        for (int w = 0; w < W; ++w) x[w] = static_cast<const float*>(base)[at + w];
    }
    template <int W, bool Stochastic>
    static PFO_INLINE void store(void* base,
                                 std::size_t at,
                                 const float (&x)[W],
                                 const std::uint32_t*) {
        for (int w = 0; w < W; ++w) static_cast<float*>(base)[at + w] = x[w];
    }
};
template <>
struct Io<Storage::kBFloat16> {
    template <int W>
    static PFO_INLINE void load(const void* base, std::size_t at, float (&x)[W]) {
        const std::uint16_t* h = static_cast<const std::uint16_t*>(base) + at;
        if constexpr (W == 2) {
            std::uint32_t word;
            std::memcpy(&word, h, sizeof word);
            x[0] = storage::float_of(word << 16);
            x[1] = storage::float_of(word & 0xFFFF0000u);
        } else {
            x[0] = storage::bf16_to_float(h[0]);
        }
    }
    template <int W, bool Stochastic>
    static PFO_INLINE void store(void* base,
                                 std::size_t at,
                                 const float (&x)[W],
                                 const std::uint32_t* random) {
        std::uint32_t high[W];
        for (int w = 0; w < W; ++w) {
            if constexpr (Stochastic)
                high[w] = storage::float_to_bf16_stochastic_high(x[w], random[w]);
            else
                high[w] = storage::float_to_bf16_high(x[w]);
        }
        std::uint16_t* h = static_cast<std::uint16_t*>(base) + at;
        if constexpr (W == 2) {
            const std::uint32_t word = (high[0] >> 16) | (high[1] & 0xFFFF0000u);
            std::memcpy(h, &word, sizeof word);
        } else {
            h[0] = static_cast<std::uint16_t>(high[0] >> 16);
        }
    }
};

/// A storage layout that has a fused loop: the storage of the param (the master, if
/// copied), of the gradient, of every state, of the param's copy (kFloat64: none), and
/// whether bfloat16 stores round stochastically. kQ8Signed stands for either 8-bit map.
template <Storage P,
          Storage G,
          Storage S,
          Storage Copy = Storage::kFloat64,
          bool Stochastic = false>
struct Layout {
    static constexpr Storage kParam = P, kGrad = G, kState = S, kCopy = Copy;
    static constexpr bool kStochastic = Stochastic;

    /// Whether tensor t of the batch is stored this way.
    template <int K>
    static bool matches(const MixedBatch<K>& b, std::size_t t, bool reads_grad) {
        auto same = [](Storage have, Storage want) {
            return have == want || (want == Storage::kQ8Signed && have == Storage::kQ8Unsigned);
        };
        bool ok = b.params[t].type == P && (!reads_grad || b.grads[t].type == G) &&
                  (b.copies == nullptr ? Copy == Storage::kFloat64 : b.copies[t].type == Copy) &&
                  b.stochastic == Stochastic;
        for (int k = 0; k < K; ++k) ok = ok && same(b.states[k][t].type, S);
        return ok;
    }
};

/// The layouts with a fused loop (every other takes the staged one, mixed_block): the
/// configurations the benchmarks and users lean on. float16 is not among them: GCC does not
/// vectorise float16 conversions, and the staged loop's F16C tiles beat the integer ones
/// (all-float16 Adam at 2^26 on the 2-core EPYC: 70 ms staged, 167 ms fused).
#define PFO_FOR_EACH_FUSED_LAYOUT(X)                                                               \
    X(Layout<Storage::kFloat32, Storage::kFloat32, Storage::kBFloat16>)                            \
    X(Layout<Storage::kFloat32, Storage::kFloat32, Storage::kQ8Signed>)                            \
    X(Layout<Storage::kBFloat16, Storage::kBFloat16, Storage::kBFloat16>)                          \
    X(Layout<Storage::kBFloat16, Storage::kBFloat16, Storage::kBFloat16, Storage::kFloat64, true>) \
    X(Layout<Storage::kFloat32, Storage::kBFloat16, Storage::kBFloat16, Storage::kBFloat16>)

/// W elements [lo + i, lo + i + W) of fused_block. A function of its own: `omp simd`
/// privatises arrays declared in the loop body into per-lane arrays the vectoriser cannot
/// handle; a callee's locals, inlined after that lowering, become plain registers.
template <class Rule, class L, int K, int W, class Random, class QTile>
PFO_INLINE void fused_at(const CoeffsOf<Rule, float>& c,
                         void* p_base,
                         const void* g_base,
                         void* copy_base,
                         void* const* s_base,
                         float unscale,
                         const Random& random,
                         QTile& qtile,
                         std::size_t lo,
                         std::size_t i) {
    constexpr bool kQ8 = L::kState == Storage::kQ8Signed;
    constexpr bool kRandomParam = L::kStochastic && L::kParam == Storage::kBFloat16;
    constexpr bool kRandomState = L::kStochastic && L::kState == Storage::kBFloat16;
    constexpr int KT = K > 0 ? K : 1;
    const std::size_t at = lo + i;
    float p[W], g[W], s[W][KT], x[W];
    Io<L::kParam>::template load<W>(p_base, at, p);
    Io<L::kGrad>::template load<W>(g_base, at, g);
    for (int k = 0; k < K; ++k) {
        if constexpr (kQ8)
            for (int w = 0; w < W; ++w) x[w] = qtile[k][i + w];
        else
            Io<L::kState>::template load<W>(s_base[k], at, x);
        for (int w = 0; w < W; ++w) s[w][k] = x[w];
    }
    for (int w = 0; w < W; ++w) Rule::apply(c, p[w], g[w] * unscale, s[w]);
    if constexpr (Writes<Rule>::value) {
        Io<L::kParam>::template store<W, kRandomParam>(p_base, at, p,
                                                       kRandomParam ? random[0] + i : nullptr);
        if constexpr (L::kCopy != Storage::kFloat64)
            Io<L::kCopy>::template store<W, false>(copy_base, at, p, nullptr);
        for (int k = 0; k < K; ++k) {
            for (int w = 0; w < W; ++w) x[w] = s[w][k];
            if constexpr (kQ8)
                for (int w = 0; w < W; ++w) qtile[k][i + w] = x[w];
            else if constexpr (kRandomState)
                Io<L::kState>::template store<W, true>(s_base[k], at, x, random[1 + k] + i);
            else
                Io<L::kState>::template store<W, false>(s_base[k], at, x, nullptr);
        }
    }
}

/// One block [begin, end) of tensor t stored as L, in windows of one 8-bit block: every
/// buffer is loaded, updated and stored in one loop (all streams in flight at once, which
/// the staged loop cannot do); only 8-bit states pass through a tile, quantized once their
/// window's absmax is known.
template <class Rule, class L, int K = Rule::kStates>
PFO_ONE_COPY void fused_block(const CoeffsOf<Rule, float> c,
                              const MixedBatch<K>& b,
                              std::size_t t,
                              std::size_t begin,
                              std::size_t end) {
    constexpr bool kQ8 = L::kState == Storage::kQ8Signed;
    constexpr bool kRandomParam = L::kStochastic && L::kParam == Storage::kBFloat16;
    constexpr bool kRandomState = L::kStochastic && L::kState == Storage::kBFloat16;
    constexpr int KT = K > 0 ? K : 1;
    // elements per lane: bfloat16 pairs, but one where the param and gradient are float32
    // (pairs would shuffle those two streams: 9% slower in L2 on the EPYC)
    constexpr int W = L::kParam == Storage::kFloat32 && L::kGrad == Storage::kFloat32 ? 1 : 2;
    alignas(64) float qtile[kQ8 ? KT : 1][kQ8 ? kQuantBlock : 1];
    alignas(64)
        std::uint32_t random[1 + (L::kStochastic ? K : 0)][L::kStochastic ? kQuantBlock : 1];
    void* const p_base = b.params[t].data;
    const void* const g_base = ReadsGradient<Rule>::value ? b.grads[t].data : p_base;
    void* const copy_base = b.copies != nullptr ? b.copies[t].data : nullptr;
    void* s_base[KT];
    const float* code[KT];
    for (int k = 0; k < K; ++k) {
        s_base[k] = b.states[k][t].data;
        code[k] = kQ8 ? q8::map(b.states[k][t].type == Storage::kQ8Signed).code : nullptr;
    }
    const float unscale = b.grad_unscale;
    const std::uint64_t tensor = b.first_tensor + t;
    // windows of one 8-bit block where something is quantized or drawn per window;
    // otherwise the whole block in one loop
    constexpr std::size_t kWindow = kQ8 || L::kStochastic ? kQuantBlock : kBlock;
    for (std::size_t lo = begin; lo < end; lo += kWindow) {
        const std::size_t n = std::min(kWindow, end - lo);
        if constexpr (kRandomParam) random_bits(b.seed, b.step, tensor, 0, lo, n, random[0]);
        if constexpr (kRandomState)
            for (int k = 0; k < K; ++k)
                random_bits(b.seed, b.step, tensor, 1 + k, lo, n, random[1 + k]);
        if constexpr (kQ8)
            for (int k = 0; k < K; ++k)
                q8_decode(static_cast<const std::uint8_t*>(s_base[k]) + lo, n, code[k],
                          b.states[k][t].absmax[lo / kQuantBlock], qtile[k]);
#pragma omp simd
        for (std::size_t j = 0; j < n / W; ++j)
            fused_at<Rule, L, K, W>(c, p_base, g_base, copy_base, s_base, unscale, random, qtile,
                                    lo, W * j);
        if (n % W != 0)  // the last element of an odd tensor
            fused_at<Rule, L, K, 1>(c, p_base, g_base, copy_base, s_base, unscale, random, qtile,
                                    lo, n - 1);
        if constexpr (kQ8 && Writes<Rule>::value)
            for (int k = 0; k < K; ++k) store(b.states[k][t], lo, n, qtile[k], Rounding{});
    }
}

/// One block of tensor t: the fused loop of its layout if it has one, else the staged one.
template <class Rule, int K = Rule::kStates>
void any_block(const CoeffsOf<Rule, float>& c,
               const MixedBatch<K>& b,
               std::size_t t,
               std::size_t begin,
               std::size_t end) {
    constexpr bool kReads = ReadsGradient<Rule>::value;
#define PFO_TRY_LAYOUT(...)                 \
    if (__VA_ARGS__::matches(b, t, kReads)) \
        return fused_block<Rule, __VA_ARGS__>(c, b, t, begin, end);
    PFO_FOR_EACH_FUSED_LAYOUT(PFO_TRY_LAYOUT)
#undef PFO_TRY_LAYOUT
    mixed_block<Rule>(c, b, t, begin, end, nullptr);
}

}  // namespace mixed

/// Applies Rule (computing in float32) to every element of a batch in mixed storage.
template <class Rule>
void run_mixed(const CoeffsOf<Rule, float>& c, const MixedBatch<Rule::kStates>& b, int threads) {
    for_each_block(b.sizes, b.count, threads,
                   [&](std::size_t t, std::size_t begin, std::size_t end, std::size_t) {
                       if constexpr (IsIndexed<Rule>::value)
                           mixed::mixed_block<Rule>(c, b, t, begin, end, nullptr);
                       else
                           mixed::any_block<Rule>(c, b, t, begin, end);
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
