// The device kernels of pyfastopt/cuda/loop.cuh run on the host, for machines without a GPU
// (tests/test_cuda.py builds and runs this): loop_emu.cuh is loop.cuh with each
// `kernel<<<grid, ...>>>(args)` written as `emu_launch(grid, [&] { kernel(args); })`; the
// CUDA keywords and intrinsics are defined below as a block of 256 std::threads in lockstep
// where the kernel synchronizes (__syncthreads, __shfl_xor_sync), blocks one after another,
// the CUDA runtime calls as host stubs. Each call is compared bit for bit with the CPU
// driver (cpu/mixed-inl.hpp, cpu/loop-inl.hpp) on the same inputs; prints "all same" and
// exits 0 when every buffer matches. It checks the kernels' logic (indexing, 8-bit block
// reduction, random-bit keys, packing into launches), not the GPU's arithmetic.
#include <cuda_runtime.h>

#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __grid_constant__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __constant__
#define __grid_constant__
#define __launch_bounds__(...)

struct EmuDim { unsigned x = 0; };
inline thread_local EmuDim emu_thread, emu_block;
inline EmuDim emu_grid;
#define threadIdx emu_thread
#define blockIdx emu_block
#define gridDim emu_grid
inline std::barrier<>* emu_barrier;
inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
inline std::uint32_t emu_slots[256];
inline std::uint32_t __shfl_xor_sync(unsigned, std::uint32_t x, int offset) {
    emu_slots[threadIdx.x] = x;
    __syncthreads();
    const std::uint32_t y = emu_slots[threadIdx.x ^ unsigned(offset)];
    __syncthreads();
    return y;
}
inline std::uint32_t max(std::uint32_t a, std::uint32_t b) { return a > b ? a : b; }
inline int emu_launches = 0;
template <class F>
void emu_launch(unsigned grid, F&& f) {
    ++emu_launches;
    emu_grid.x = grid;
    for (unsigned b = 0; b < grid; ++b) {
        std::barrier<> bar(256);
        emu_barrier = &bar;
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < 256; ++t)
            threads.emplace_back([&, b, t] {
                emu_block.x = b;
                emu_thread.x = t;
                f();
            });
        for (auto& th : threads) th.join();
    }
}
extern "C" {
cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t) { return "?"; }
const char* cudaGetErrorString(cudaError_t) { return "?"; }
cudaError_t cudaMemcpyToSymbolAsync(const void* symbol, const void* src, size_t count, size_t offset,
                                    cudaMemcpyKind, cudaStream_t) {
    std::memcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, count);
    return cudaSuccess;
}
}

#include "loop_emu.cuh"
#include <pyfastopt/cpu/mixed-inl.hpp>
#include <pyfastopt/rules/all.hpp>

using namespace pyfastopt;
std::mt19937_64 gen(42);

// One buffer in one storage, random contents (8-bit: valid codes and absmax).
struct Buf {
    std::vector<std::uint8_t> bytes;
    std::vector<float> absmax;
    Storage type;
    Buf(Storage s, std::size_t n) : type(s) {
        std::normal_distribution<float> normal;
        std::vector<float> x(n);
        for (auto& v : x) v = normal(gen);
        if (s == Storage::kQ8Unsigned) for (auto& v : x) v = std::fabs(v);
        const std::size_t size = s == Storage::kFloat32 ? 4 : (s == Storage::kQ8Signed || s == Storage::kQ8Unsigned) ? 1 : 2;
        bytes.resize(n * size + 1);
        absmax.resize((n + 255) / 256 + 1);
        Stored st{bytes.data(), s, absmax.data()};
        cpu::mixed::store(st, 0, n, x.data(), {});  // conversions from float32
    }
    Stored stored() { return {bytes.data(), type, absmax.data()}; }
};

struct Call {
    std::vector<std::size_t> sizes;
    std::vector<Buf> params, grads, copies;
    std::vector<std::vector<Buf>> states;
};

template <class Rule>
int compare(const char* what, const std::vector<std::size_t>& sizes, Storage param, Storage grad,
            std::vector<Storage> state_types, bool masters, bool stochastic, float unscale) {
    constexpr int K = Rule::kStates;
    Call a;
    a.sizes = sizes;
    a.states.resize(K);
    for (std::size_t n : sizes) {
        a.params.emplace_back(masters ? Storage::kFloat32 : param, n);
        if (masters) a.copies.emplace_back(param, n);
        a.grads.emplace_back(grad, n);
        for (int k = 0; k < K; ++k) a.states[k].emplace_back(state_types[k], n);
    }
    Call b = a;  // the device's copy
    auto batch = [&](Call& call, std::vector<Stored>& p, std::vector<Stored>& g,
                     std::vector<std::vector<Stored>>& s, std::vector<Stored>& c) {
        for (auto& x : call.params) p.push_back(x.stored());
        for (auto& x : call.grads) g.push_back(x.stored());
        s.resize(K);
        for (int k = 0; k < K; ++k) for (auto& x : call.states[k]) s[k].push_back(x.stored());
        for (auto& x : call.copies) c.push_back(x.stored());
        MixedBatch<K> m;
        m.count = call.sizes.size();
        m.sizes = call.sizes.data();
        m.params = p.data();
        m.grads = ReadsGradient<Rule>::value ? g.data() : p.data();
        for (int k = 0; k < K; ++k) m.states[k] = s[k].data();
        m.copies = masters ? c.data() : nullptr;
        m.grad_unscale = unscale;
        m.stochastic = stochastic;
        m.seed = 0x1234567890ULL;
        m.step = 7;
        m.first_tensor = 3;
        return m;
    };
    std::vector<Stored> pa, ga, ca, pb, gb, cb;
    std::vector<std::vector<Stored>> sa, sb;
    const MixedBatch<K> ma = batch(a, pa, ga, sa, ca), mb = batch(b, pb, gb, sb, cb);
    double raw[16] = {0.1, 0.9, 0.1, 0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, -1e-3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    const auto c = coeffs_from<Rule, float>(raw);
    cpu::run_mixed<Rule>(c, ma, 1);
    const int before = emu_launches;
    cuda::run_mixed<Rule>(c, mb, nullptr, 1);
    int bad = 0;
    auto same = [&](Buf& x, Buf& y, const char* name, std::size_t t) {
        if (x.bytes != y.bytes || ((x.type == Storage::kQ8Signed || x.type == Storage::kQ8Unsigned) && std::memcmp(x.absmax.data(), y.absmax.data(), x.absmax.size() * 4))) {
            ++bad;
            std::printf("  %s: %s[%zu] differs\n", what, name, t);
        }
    };
    for (std::size_t t = 0; t < sizes.size(); ++t) {
        same(a.params[t], b.params[t], "param", t);
        if (masters) same(a.copies[t], b.copies[t], "copy", t);
        for (int k = 0; k < K; ++k) same(a.states[k][t], b.states[k][t], Rule::kStateNames[k], t);
    }
    std::printf("%s: %d launches, %s\n", what, emu_launches - before, bad ? "DIFFERENT" : "same bits");
    return bad;
}

// The plain float32 kernel (its launch packing is shared with the mixed one).
int compare_plain(std::size_t count) {
    std::normal_distribution<float> normal;
    std::vector<std::size_t> sizes(count);
    for (auto& n : sizes) n = gen() % 20000;
    sizes[1] = 0;
    std::vector<std::vector<float>> a[4];
    for (auto& buf : a) for (std::size_t n : sizes) { buf.emplace_back(n); for (auto& v : buf.back()) v = normal(gen); }
    for (std::size_t t = 0; t < count; ++t) for (auto& v : a[3][t]) v = std::fabs(v);
    auto b = a[0]; auto bm = a[2]; auto bv = a[3];
    std::vector<float*> p, m, v, p2, m2, v2; std::vector<const float*> g;
    for (std::size_t t = 0; t < count; ++t) {
        p.push_back(a[0][t].data()); g.push_back(a[1][t].data()); m.push_back(a[2][t].data()); v.push_back(a[3][t].data());
        p2.push_back(b[t].data()); m2.push_back(bm[t].data()); v2.push_back(bv[t].data());
    }
    double raw[10] = {0.1, 0.9, 0.1, 0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, -1e-3};
    const auto c = coeffs_from<rules::AdamPlain, float>(raw);
    Batch<float, 2> x{count, sizes.data(), p.data(), g.data(), {m.data(), v.data()}};
    Batch<float, 2> y{count, sizes.data(), p2.data(), g.data(), {m2.data(), v2.data()}};
    cpu::run<rules::AdamPlain, float>(c, x, 1);
    const int before = emu_launches;
    cuda::run<rules::AdamPlain, float>(c, y, nullptr, 1);
    const bool same = a[0] == b && a[2] == bm && a[3] == bv;
    std::printf("plain adam %zu tensors: %d launches, %s\n", count, emu_launches - before, same ? "same bits" : "DIFFERENT");
    return same ? 0 : 1;
}

int main() {
    using S = Storage;
    int bad = 0;
    const std::vector<std::size_t> sizes = {20000, 0, 1, 300, 8192, 8193, 256, 257};
    bad += compare<rules::AdamPlain>("adam bf16+master, q8 states, stochastic", sizes, S::kBFloat16, S::kBFloat16, {S::kQ8Signed, S::kQ8Unsigned}, true, true, 0.125f);
    bad += compare<rules::AdamPlain>("adam bf16, bf16 states, nearest", sizes, S::kBFloat16, S::kBFloat16, {S::kBFloat16, S::kBFloat16}, false, false, 1.0f);
    bad += compare<rules::AdamAmsgrad>("amsgrad f32/f16 grad, bf16/q8/f16 states, stochastic", sizes, S::kFloat32, S::kFloat16, {S::kBFloat16, S::kQ8Unsigned, S::kFloat16}, false, true, 0.5f);
    bad += compare<rules::SgdMomentum>("sgd momentum f16+master, q8 signed", sizes, S::kFloat16, S::kFloat16, {S::kQ8Signed}, true, false, 1.0f);
    bad += compare<rules::Lion>("lion bf16 stochastic, 8-bit", sizes, S::kBFloat16, S::kBFloat16, {S::kQ8Signed}, false, true, 1.0f);
    bad += compare<rules::ScaleClamp>("scale_clamp bf16 stochastic", sizes, S::kBFloat16, S::kBFloat16, {}, false, true, 1.0f);
    std::vector<std::size_t> many(50);  // more tensors than one launch holds (44 for K = 2)
    for (auto& n : many) n = gen() % 700;
    many[2] = 0;
    bad += compare<rules::AdamPlain>("adam 50 tensors bf16 stochastic q8", many, S::kBFloat16, S::kBFloat16, {S::kQ8Signed, S::kBFloat16}, false, true, 1.0f);
    bad += compare_plain(100);
    std::printf("%s\n", bad ? "FAILED" : "all same");
    return bad != 0;
}
