// pyfastopt/cuda/loop.cuh: header-only CUDA driver that runs a rule over a Batch of device
// buffers. Include it from one .cu file only (it defines __global__ kernels and the
// __constant__ 8-bit maps); pyfastopt's src/cpp/cuda/kernels.cu instantiates it once per
// rule and dtype.
//
// The device twin of cpu/loop-inl.hpp: the same rules/*.hpp, the same Batch, the same
// per-element load -> Rule::apply -> store. Work is cut into (tensor, chunk) items of kChunk
// elements; one grid-stride kernel takes a whole list of tensors: block b handles items
// b, b + gridDim.x, ..., and its threads stride through the chunk's elements (coalesced).
// The tensor table travels as the kernel's by-value argument (like torch's
// multi_tensor_apply: no device allocation, no copy), so one launch holds up to
// TensorTable::kMaxTensors tensors; a longer list takes one launch per kMaxTensors.
//
// run_mixed() is the device twin of cpu/mixed-inl.hpp (buffers in any Storage of
// storage.hpp, computed in float32): the same per-element conversions, stochastic rounding
// bits and 8-bit quantization, so a device step writes the CPU's bits.
//
// Rounding: compile with --fmad=false and without --use_fast_math (so -prec-div,
// -prec-sqrt and -ftz keep their IEEE defaults); the rules use no FMA, so a device step
// rounds as the CPU kernels do.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../batch.hpp"
#include "../coeffs.hpp"
#include "../random.hpp"
#include "../storage.hpp"

namespace pyfastopt::cuda {

/// Threads per block.
inline constexpr int kThreads = 256;
/// Elements per work item (32 per thread).
inline constexpr std::size_t kChunk = std::size_t{8192};
/// Resident blocks per multiprocessor the grid is sized for (the grid-stride loop takes
/// the rest).
inline constexpr int kBlocksPerSm = 8;

/// The kernel argument: tensor t has size[t] elements at params[t], grads[t] and
/// states[k][t]; its chunks are the work items [chunk_start[t], chunk_start[t + 1]).
/// Sized to stay under the 4 KiB kernel-parameter limit of every CUDA version (with the
/// Coeffs): 68 tensors per launch for a rule with 3 states, 99 for stateless rules.
template <class T, int K>
struct TensorTable {
    static constexpr int kRows = K > 0 ? K : 1;  ///< state rows (one unused when K == 0)
    static constexpr int kMaxTensors = (3584 - 8) / (8 * (kRows + 2) + 8 + 4);
    int count = 0;
    std::uint32_t chunk_start[kMaxTensors + 1] = {};
    std::size_t size[kMaxTensors] = {};
    T* params[kMaxTensors] = {};
    const T* grads[kMaxTensors] = {};
    T* states[kRows][kMaxTensors] = {};
};

/// The tensor a work item belongs to: the last t with chunk_start[t] <= item (tables
/// hold no empty tensor, so that tensor's range contains the item).
template <class Table>
__device__ inline int tensor_of(const Table& table, std::uint32_t item) {
    int lo = 0, hi = table.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (table.chunk_start[mid] <= item)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/// One launch: every element of every tensor of the table. __grid_constant__ lets the
/// table be indexed in parameter memory instead of being copied per thread (sm_70+).
template <class Rule, class T>
__global__ void __launch_bounds__(kThreads)
    step_kernel(const __grid_constant__ TensorTable<T, Rule::kStates> table,
                const CoeffsOf<Rule, T> c) {
    constexpr int K = Rule::kStates;
    const std::uint32_t items = table.chunk_start[table.count];
    for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
        const int t = tensor_of(table, item);
        const std::size_t begin = std::size_t{item - table.chunk_start[t]} * kChunk;
        const std::size_t end = table.size[t] - begin < kChunk ? table.size[t] : begin + kChunk;
        T* const p = table.params[t];
        const T* const g = table.grads[t];
        T* state[K > 0 ? K : 1];
#pragma unroll
        for (int k = 0; k < K; ++k) state[k] = table.states[k][t];
        for (std::size_t i = begin + threadIdx.x; i < end; i += kThreads) {
            T s[K > 0 ? K : 1];
#pragma unroll
            for (int k = 0; k < K; ++k) s[k] = state[k][i];
            T pi = p[i];
            Rule::apply(c, pi, g[i], s);
            p[i] = pi;
#pragma unroll
            for (int k = 0; k < K; ++k) state[k][i] = s[k];
        }
    }
}

/// Thrown for a CUDA runtime error; what() names the call.
inline void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess)
        throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                                 cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

/// Packs the non-empty tensors of a call (tensor t has sizes[t] elements) into tables of
/// at most Table::kMaxTensors tensors and fewer than 2^31 work items: fill(row, t) writes
/// tensor t's buffers into row `row` of `table`; launch(grid) launches the table.
template <class Table, class Fill, class Launch>
void launch_tables(Table& table,
                   const std::size_t* sizes,
                   std::size_t count,
                   int sms,
                   Fill&& fill,
                   Launch&& launch) {
    std::size_t items = 0;
    auto flush = [&] {
        if (table.count == 0) return;
        const std::size_t max_grid = static_cast<std::size_t>(sms > 0 ? sms : 1) * kBlocksPerSm;
        launch(static_cast<unsigned>(items < max_grid ? items : max_grid));
        check(cudaGetLastError(), "kernel launch");
        table.count = 0;
        items = 0;
    };
    for (std::size_t t = 0; t < count; ++t) {
        const std::size_t n = sizes[t];
        if (n == 0) continue;
        const std::size_t chunks = (n + kChunk - 1) / kChunk;
        // Work items stay below 2^31, so `item += gridDim.x` cannot wrap around.
        constexpr std::size_t kMaxItems = std::numeric_limits<std::int32_t>::max();
        if (chunks > kMaxItems) throw std::length_error("pyfastopt.cuda: tensor too large");
        if (table.count == Table::kMaxTensors || items + chunks > kMaxItems) flush();
        const int i = table.count++;
        table.chunk_start[i] = static_cast<std::uint32_t>(items);
        table.size[i] = n;
        fill(i, t);
        items += chunks;
        table.chunk_start[i + 1] = static_cast<std::uint32_t>(items);
    }
    flush();
}

/// Applies Rule to every element of the batch (device pointers, all on the current
/// device), in place, enqueued on `stream`. sms is the device's multiprocessor count.
/// Empty tensors are skipped; an empty batch launches nothing. Asynchronous: returns once
/// the launches are enqueued.
template <class Rule, class T>
void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, cudaStream_t stream, int sms) {
    constexpr int K = Rule::kStates;
    using Table = TensorTable<T, K>;
    static_assert(sizeof(Table) + sizeof(CoeffsOf<Rule, T>) <= 4000,
                  "kernel arguments must fit in 4 KiB");
    Table table;
    launch_tables(
        table, b.sizes, b.count, sms,
        [&](int i, std::size_t t) {
            table.params[i] = b.params[t];
            table.grads[i] = b.grads[t];
            for (int k = 0; k < K; ++k) table.states[k][i] = b.states[k][t];
        },
        [&](unsigned grid) { step_kernel<Rule, T><<<grid, kThreads, 0, stream>>>(table, c); });
}

// ---- mixed storage: the device twin of cpu/mixed-inl.hpp -------------------------------
//
// Each element is loaded from its storage into float32 (storage.hpp's conversions), the
// rule runs on it, and it is stored back: bfloat16 and float16 rounded to nearest even, or
// bfloat16 stochastically with the CPU's random bits (same Philox keying, so a device
// step gives the CPU's bits), 8-bit states quantized per block of kQuantBlock elements.
// A block of kThreads == kQuantBlock threads walks its chunk one quantization block at a
// time, so the absmax of an 8-bit state is one shared-memory max reduction.

static_assert(kThreads == static_cast<int>(kQuantBlock), "one thread per 8-bit element");
static_assert(kChunk % kQuantBlock == 0, "chunks hold whole quantization blocks");

/// The kernel argument of a mixed call: tensor t has size[t] elements; its buffers are
/// data[row][t] stored as type[row][t], rows kParam (the float32 master, with copies),
/// kGrad, kState + k, kCopy (the 16-bit parameter written from the master); absmax[k][t]
/// is an 8-bit state's scales; key[t] is its index in the caller's numbering (first_tensor
/// + its index in the batch: rows skip empty tensors and restart at each launch), the
/// tensor word of its random bits. The rest is call-wide (MixedBatch's options).
template <int K>
struct MixedTable {
    static constexpr int kParam = 0, kGrad = 1, kState = 2, kCopy = K + 2, kRows = K + 3;
    static constexpr int kQRows = K > 0 ? K : 1;
    static constexpr int kMaxTensors = 3400 / (8 + 4 + 4 + 9 * kRows + 8 * kQRows);
    std::uint64_t seed = 0, step = 0;
    float grad_unscale = 1.0f;
    bool stochastic = false;  ///< round bfloat16 stores stochastically (but a copy's)
    bool copies = false;      ///< row kCopy is used
    bool quantized = false;   ///< some state is 8-bit: the kernel loads the maps
    int count = 0;
    std::uint32_t chunk_start[kMaxTensors + 1] = {};
    std::size_t size[kMaxTensors] = {};
    std::uint32_t key[kMaxTensors] = {};
    void* data[kRows][kMaxTensors] = {};
    float* absmax[kQRows][kMaxTensors] = {};
    Storage type[kRows][kMaxTensors] = {};
};

namespace mixed {

/// The dynamic maps (q8::map), [signed]: code[256] and the magnitude boundaries
/// (q8::Map::boundary). Copied to a device once, before its first 8-bit call.
__constant__ float q8_code[2][256];
__constant__ float q8_threshold[2][256];

struct Maps {
    float code[2][256];
    float threshold[2][256];  ///< q8::Map::boundary
};

// The per-element helpers are host functions too, so that their results can be checked
// against the CPU driver's on a machine without a GPU.

PFO_HD inline bool is_q8(Storage s) {
    return s == Storage::kQ8Signed || s == Storage::kQ8Unsigned;
}

/// Element i of a buffer as float32, times `scale` (as cpu/mixed-inl.hpp's load).
PFO_HD inline float load(const void* data,
                         Storage type,
                         const float* absmax,
                         std::size_t i,
                         float scale,
                         const Maps& maps) {
    switch (type) {
        case Storage::kFloat32: {
            const float x = static_cast<const float*>(data)[i];
            return scale == 1.0f ? x : x * scale;
        }
        case Storage::kBFloat16:
            return storage::bf16_to_float(static_cast<const std::uint16_t*>(data)[i]) * scale;
        case Storage::kFloat16:
            return storage::f16_to_float(static_cast<const std::uint16_t*>(data)[i]) * scale;
        case Storage::kQ8Signed:
        case Storage::kQ8Unsigned:
            return maps.code[type == Storage::kQ8Signed]
                            [static_cast<const std::uint8_t*>(data)[i]] *
                   absmax[i / kQuantBlock];
        default:  // float64 never reaches the float32 driver
            return 0.0f;
    }
}

/// Stores x as element i of a 16- or 32-bit buffer; `random` (16 bits) if the store
/// rounds stochastically, else null.
PFO_HD inline void store(
    void* data, Storage type, std::size_t i, float x, const std::uint32_t* random) {
    switch (type) {
        case Storage::kFloat32:
            static_cast<float*>(data)[i] = x;
            return;
        case Storage::kBFloat16:
            static_cast<std::uint16_t*>(data)[i] =
                random != nullptr ? storage::float_to_bf16_stochastic(x, *random)
                                  : storage::float_to_bf16(x);
            return;
        case Storage::kFloat16:
            static_cast<std::uint16_t*>(data)[i] = storage::float_to_f16(x);
            return;
        default:  // 8-bit: quantized by the block (mixed_kernel)
            return;
    }
}

/// The 16 random bits of element i of one buffer of one tensor: cpu/mixed-inl.hpp's
/// random_bits (one Philox block per eight elements, two per 32-bit word).
PFO_HD inline std::uint32_t random16(
    std::uint64_t seed, std::uint64_t step, std::uint32_t tensor, int buffer, std::size_t i) {
    const std::uint64_t group = i / 8;
    const std::uint32_t word3 =
        static_cast<std::uint32_t>(step) ^ (static_cast<std::uint32_t>(buffer) << 28);
    const random::Philox4x32 counter{{static_cast<std::uint32_t>(group),
                                      static_cast<std::uint32_t>(group >> 32), tensor, word3}};
    const auto r = random::philox4x32_10(counter, static_cast<std::uint32_t>(seed),
                                         static_cast<std::uint32_t>(seed >> 32));
    const unsigned w = static_cast<unsigned>(i % 8) / 2;  // selects: no local-memory array
    const std::uint32_t word = w == 0 ? r.v[0] : w == 1 ? r.v[1] : w == 2 ? r.v[2] : r.v[3];
    return i % 2 == 0 ? word & 0xFFFFu : word >> 16;
}

/// The nearest code of y in a map (q8::encode_searching: the CPU's codes, ties toward zero).
PFO_HD inline std::uint8_t nearest_code(float y, const float* boundary, bool is_signed) {
    return q8::encode_searching(boundary, is_signed, y);
}

/// max of x over the warp.
__device__ inline std::uint32_t warp_max(std::uint32_t x) {
    for (int offset = 16; offset > 0; offset >>= 1)
        x = max(x, __shfl_xor_sync(0xFFFFFFFFu, x, offset));
    return x;
}

}  // namespace mixed

/// One launch of a mixed call: every element of every tensor of the table, computed in
/// float32.
template <class Rule>
__global__ void __launch_bounds__(kThreads)
    mixed_kernel(const __grid_constant__ MixedTable<Rule::kStates> table,
                 const CoeffsOf<Rule, float> c) {
    constexpr int K = Rule::kStates;
    using Table = MixedTable<K>;
    constexpr int kWarps = kThreads / 32;
    __shared__ mixed::Maps maps;
    __shared__ std::uint32_t block_max[Table::kQRows][kWarps];
    if (table.quantized) {  // random access into the maps: from shared memory
        for (int j = threadIdx.x; j < 256; j += kThreads)
            for (int m = 0; m < 2; ++m) {
                maps.code[m][j] = mixed::q8_code[m][j];
                maps.threshold[m][j] = mixed::q8_threshold[m][j];
            }
        __syncthreads();
    }
    const std::uint32_t items = table.chunk_start[table.count];
    for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
        const int t = tensor_of(table, item);
        const std::size_t begin = std::size_t{item - table.chunk_start[t]} * kChunk;
        const std::size_t end = table.size[t] - begin < kChunk ? table.size[t] : begin + kChunk;
        const std::uint32_t tensor = table.key[t];
        auto data = [&](int row) { return table.data[row][t]; };
        auto type = [&](int row) { return table.type[row][t]; };
        bool quantized = false;  // uniform over the block: it may synchronize
#pragma unroll
        for (int k = 0; k < K; ++k) quantized = quantized || mixed::is_q8(type(Table::kState + k));
        // every thread takes every step (the 8-bit reduction needs them all); threads past
        // the end of the tensor take part with zeros
        for (std::size_t base = begin; base < end; base += kThreads) {
            const std::size_t i = base + threadIdx.x;
            const bool active = i < end;
            float p = 0.0f;
            float s[K > 0 ? K : 1] = {};
            if (active) {
                p = mixed::load(data(Table::kParam), type(Table::kParam), nullptr, i, 1.0f, maps);
                const float g = ReadsGradient<Rule>::value
                                    ? mixed::load(data(Table::kGrad), type(Table::kGrad), nullptr,
                                                  i, table.grad_unscale, maps)
                                    : p;
#pragma unroll
                for (int k = 0; k < K; ++k)
                    s[k] = mixed::load(data(Table::kState + k), type(Table::kState + k),
                                       table.absmax[k][t], i, 1.0f, maps);
                Rule::apply(c, p, g, s);
            }
            // one store; stochastic rounding draws for every bfloat16 store but a copy's
            auto store = [&](int row, int buffer, float x) {
                if (table.stochastic && type(row) == Storage::kBFloat16) {
                    const std::uint32_t r =
                        mixed::random16(table.seed, table.step, tensor, buffer, i);
                    mixed::store(data(row), type(row), i, x, &r);
                } else {
                    mixed::store(data(row), type(row), i, x, nullptr);
                }
            };
            if (active) {
                store(Table::kParam, 0, p);
#pragma unroll
                for (int k = 0; k < K; ++k) store(Table::kState + k, 1 + k, s[k]);
                if (table.copies)
                    mixed::store(data(Table::kCopy), type(Table::kCopy), i, p, nullptr);
            }
            if (!quantized) continue;
            // 8-bit states: the block's absmax, then each element's nearest code. The max is
            // taken on the bits of |x|: for non-negative floats their order is the floats',
            // and inf and NaN sort above every finite value (a non-finite value poisons
            // its block: absmax NaN, as on the CPU).
            const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
            for (int k = 0; k < K; ++k) {
                if (!mixed::is_q8(type(Table::kState + k))) continue;
                const std::uint32_t m =
                    mixed::warp_max(active ? storage::bits_of(fabsf(s[k])) : 0u);
                if (lane == 0) block_max[k][warp] = m;
            }
            __syncthreads();
#pragma unroll
            for (int k = 0; k < K; ++k) {
                const Storage q = type(Table::kState + k);
                if (!mixed::is_q8(q)) continue;
                std::uint32_t m = 0;
                for (int w = 0; w < kWarps; ++w) m = max(m, block_max[k][w]);
                const float amax =
                    m < 0x7F800000u ? storage::float_of(m) : storage::float_of(0x7FC00000u);  // NaN
                if (threadIdx.x == 0) table.absmax[k][t][base / kQuantBlock] = amax;
                if (active) {
                    const float inv = amax > 0 ? 1.0f / amax : 0.0f;  // NaN or 0: all codes 0
                    static_cast<std::uint8_t*>(data(Table::kState + k))[i] =
                        mixed::nearest_code(s[k] * inv, maps.threshold[q == Storage::kQ8Signed],
                                            q == Storage::kQ8Signed);
                }
            }
            __syncthreads();  // block_max is rewritten by the next step
        }
    }
}

/// The host copies of the maps for q8_code and q8_threshold.
inline const mixed::Maps& host_maps() {
    static const mixed::Maps maps = [] {
        mixed::Maps m{};
        for (int s = 0; s < 2; ++s) {
            const q8::Map& map = q8::map(s == 1);
            for (int j = 0; j < 256; ++j) m.code[s][j] = map.code[j];
            for (int j = 0; j < 256; ++j) m.threshold[s][j] = map.boundary[j];
        }
        return m;
    }();
    return maps;
}

/// Copies the 8-bit maps to the current device, once per device (per process): the copy
/// is enqueued on `stream` and waited for, so every later launch, on any stream, sees it.
inline void upload_maps(cudaStream_t stream) {
    static std::mutex mutex;
    static std::vector<bool> done;  // by device
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    const std::lock_guard<std::mutex> lock(mutex);
    const auto d = static_cast<std::size_t>(device);
    if (d < done.size() && done[d]) return;
    const mixed::Maps& maps = host_maps();
    check(cudaMemcpyToSymbolAsync(mixed::q8_code, maps.code, sizeof maps.code, 0,
                                  cudaMemcpyHostToDevice, stream),
          "cudaMemcpyToSymbolAsync");
    check(cudaMemcpyToSymbolAsync(mixed::q8_threshold, maps.threshold, sizeof maps.threshold, 0,
                                  cudaMemcpyHostToDevice, stream),
          "cudaMemcpyToSymbolAsync");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    if (done.size() <= d) done.resize(d + 1, false);
    done[d] = true;
}

/// Applies Rule (computing in float32) to every element of a batch in mixed storage
/// (device pointers, all on the current device), enqueued on `stream`; as run().
template <class Rule>
void run_mixed(const CoeffsOf<Rule, float>& c,
               const MixedBatch<Rule::kStates>& b,
               cudaStream_t stream,
               int sms) {
    constexpr int K = Rule::kStates;
    using Table = MixedTable<K>;
    static_assert(sizeof(Table) + sizeof(CoeffsOf<Rule, float>) <= 4000,
                  "kernel arguments must fit in 4 KiB");
    Table table;
    table.seed = b.seed;
    table.step = b.step;
    table.grad_unscale = b.grad_unscale;
    table.stochastic = b.stochastic;
    table.copies = b.copies != nullptr;
    for (int k = 0; k < K; ++k)
        for (std::size_t t = 0; t < b.count; ++t)
            table.quantized = table.quantized || b.states[k][t].type == Storage::kQ8Signed ||
                              b.states[k][t].type == Storage::kQ8Unsigned;
    if (table.quantized) upload_maps(stream);
    auto put = [&](int row, int i, const Stored& s) {
        table.data[row][i] = s.data;
        table.type[row][i] = s.type;
    };
    launch_tables(
        table, b.sizes, b.count, sms,
        [&](int i, std::size_t t) {
            table.key[i] = static_cast<std::uint32_t>(b.first_tensor + t);  // as the CPU's
            put(Table::kParam, i, b.params[t]);
            put(Table::kGrad, i, b.grads[t]);
            for (int k = 0; k < K; ++k) {
                put(Table::kState + k, i, b.states[k][t]);
                table.absmax[k][i] = b.states[k][t].absmax;
            }
            put(Table::kCopy, i, b.copies != nullptr ? b.copies[t] : Stored{});
        },
        [&](unsigned grid) { mixed_kernel<Rule><<<grid, kThreads, 0, stream>>>(table, c); });
}

}  // namespace pyfastopt::cuda
