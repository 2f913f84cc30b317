// pyfastopt/hogwild.hpp: Hogwild! (Niu, Recht, Re & Wright 2011), lock-free multi-threaded
// SGD (or Adagrad) for sparse linear models on a CSR data set.
//
// Public, Python-free, header-only: include it from any C++17 TU. Uses OpenMP when the TU is
// compiled with it (-fopenmp); without it, every call runs on one thread.
//
// The model: margin z_i = w . x_i + b, loss l(y_i, z_i) (logistic, hinge or squared), and
// the objective
//
//     F(w, b) = 1/n sum_i l(y_i, z_i) + alpha/2 ||w||^2            (b is not penalised)
//
// Each step draws one example i (the epoch's permutation) and, with g = dl/dz at the current
// weights, updates only the coordinates j the row touches:
//
//     w_j <- w_j - lr (g x_ij + c_j w_j),   c_j = alpha n / count_j,     b <- b - lr s g
//
// count_j is the number of rows in which feature j is stored. This is the paper's sparse
// regulariser (Sec. 2: the penalty split over the examples, each feature's share divided by
// its degree): E_i[c_j w_j [j in row i]] = alpha w_j, so the step is an unbiased stochastic
// gradient of F itself, and a step writes only the row's coordinates: no dense decay, no
// shared scale factor, nothing for the threads to contend for beyond the features they share.
// s (intercept_lr_scale, 0.01 by default in Python, scikit-learn's SPARSE_INTERCEPT_DECAY)
// slows the intercept: every example moves it, while a feature moves only in the rows that
// store it, so at the weights' rate b would be by far the noisiest coordinate.
// With Adagrad the same per-coordinate gradient G_ij = g x_ij + c_j w_j feeds
// A_j += G_ij^2, w_j -= lr G_ij / (sqrt(A_j) + eps) (and likewise for b, at rate lr s).
//
// Races (the deliberate exception to pyfastopt's determinism): threads read and write the
// shared weights (and Adagrad sums) without locks. Every such access is a relaxed atomic
// load or store (__atomic_load/__atomic_store with __ATOMIC_RELAXED on GCC/Clang), so the
// program has no data race in the C++ sense; on x86-64 and AArch64 these are plain moves.
// A read-modify-write of one coordinate is not atomic: two threads updating w_j at once may
// lose one update, which is exactly Hogwild!'s model. With more than one thread the result
// depends on timing and is not reproducible bit for bit; with one thread it is a pure
// function of the inputs, the seed and the epoch count.
//
// The intercept is touched by every step, so a shared scalar would bounce one cache line
// between cores on every example. Each thread instead keeps a private copy for kSync (64)
// examples and then adds its change to the shared value (an atomic add): updates to b are
// delayed by at most kSync examples per thread, none is lost. With one thread the private
// copy simply is the intercept.
//
// Work: each epoch's permutation (a bucket shuffle, see Shuffle; Philox4x32-10 draws keyed by
// the seed and counted by the epoch: a pure function of (n, seed, epoch)) is dealt to the
// threads in chunks of kChunk positions taken from a shared counter, so a slow thread (a busy
// machine) does not hold the others back. Position p of epoch e is step t = e n + p, the
// index of its learning rate when rates are given per step.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "config.hpp"
#include "random.hpp"

namespace pyfastopt::hogwild {

/// The loss l(y, z) of a margin z for a label y (+-1 for the classification losses).
enum class Loss : int {
    kLogistic = 0,  ///< log(1 + exp(-y z))
    kHinge = 1,     ///< max(0, 1 - y z); subgradient -y where y z < 1, else 0
    kSquared = 2,   ///< (z - y)^2 / 2
};

/// A CSR matrix: row i holds indices[indptr[i]:indptr[i+1]] and the same slice of data.
template <class T, class I>
struct Csr {
    const std::int64_t* indptr;  ///< n_rows + 1 offsets, non-decreasing, from 0
    const I* indices;            ///< column of each stored value, in [0, n_cols)
    const T* data;               ///< the stored values
    std::size_t n_rows, n_cols;
};

/// How learning rates are given: one for the run, one per epoch, or one per step.
enum class RateUnit : int { kConstant = 0, kEpoch = 1, kStep = 2 };

struct Options {
    Loss loss = Loss::kLogistic;
    double alpha = 0.0;    ///< L2 strength (see the objective above)
    bool adagrad = false;  ///< Adagrad instead of plain SGD
    double eps = 1e-10;    ///< Adagrad's denominator floor
    bool fit_intercept = true;
    double intercept_lr_scale = 1.0;  ///< the intercept's rate relative to the weights'
    bool shuffle = true;              ///< false: every epoch visits rows 0, 1, ..., n - 1
    std::uint64_t seed = 0;
    std::size_t epochs = 1;
    int threads = 1;
    bool objective_history = false;  ///< history: F after each epoch instead of the running loss
    RateUnit rate_unit = RateUnit::kConstant;
    /// 1, epochs or epochs * n_rows values; with fill_rates, two epochs' (see below).
    const double* rates = nullptr;
    /// Optional, with RateUnit::kStep: per-step rates filled as the run goes, in a ring of two
    /// epochs: epoch e's n_rows rates are at rates + (e % 2) n_rows. The calling thread
    /// (thread 0) calls fill_rates(rates_context, e) during epoch e - 1, for each epoch
    /// e >= 1, so that with several threads the others train meanwhile; it fills epoch e's
    /// rates and returns true, or returns false to stop the run after the current epoch.
    /// Epoch 0's rates are filled before the call.
    bool (*fill_rates)(void* context, std::size_t epoch) = nullptr;
    void* rates_context = nullptr;
};

/// The most threads a run may ask for (the bindings refuse more): well above any machine's
/// cores, far below the thread counts at which OpenMP runtimes abort the process.
inline constexpr int kMaxThreads = 1024;
/// Examples a thread takes from the shared counter at a time; the intercept's delay.
inline constexpr std::size_t kChunk = 256;
/// Shuffle work units (Shuffle::advance) done by thread 0 per example it trains.
inline constexpr std::size_t kShuffleWork = 12;
/// Examples between two synchronisations of a thread's intercept with the shared one.
inline constexpr std::size_t kSync = 64;
/// Prefetch distances, in examples: offsets and label, then indices and values, then weights.
inline constexpr std::size_t kAheadOffsets = 24, kAheadRow = 12, kAheadWeights = 4;

#if defined(__GNUC__)
#define PFO_PREFETCH(p) __builtin_prefetch(p)
#define PFO_PREFETCH_W(p) __builtin_prefetch(p, 1)
#else
#define PFO_PREFETCH(p) ((void)(p))
#define PFO_PREFETCH_W(p) ((void)(p))
#endif

namespace detail {

/// Relaxed atomic load/store of a shared float: Hogwild!'s racy but defined accesses.
template <class T>
PFO_INLINE T racy_load(const T* p) {
#if defined(__GNUC__)
    T v;
    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
#else
    return *static_cast<const volatile T*>(p);  // MSVC: volatile accesses are not torn
#endif
}
template <class T>
PFO_INLINE void racy_store(T* p, T v) {
#if defined(__GNUC__)
    __atomic_store(p, &v, __ATOMIC_RELAXED);
#else
    *static_cast<volatile T*>(p) = v;
#endif
}

/// Atomic x += d on a double (a CAS loop; fetch_add on floating types is C++20).
inline void atomic_add(std::atomic<double>& x, double d) {
    double old = x.load(std::memory_order_relaxed);
    while (!x.compare_exchange_weak(old, old + d, std::memory_order_relaxed)) {
    }
}

/// The loss and its derivative dl/dz at margin z, label y.
PFO_INLINE void loss_and_grad(Loss loss, double y, double z, double& l, double& g) {
    switch (loss) {
        case Loss::kLogistic: {
            const double m = y * z;
            if (m > 0) {
                const double e = std::exp(-m);
                l = std::log1p(e);
                g = -y * e / (1.0 + e);
            } else {
                const double e = std::exp(m);
                l = -m + std::log1p(e);
                g = -y / (1.0 + e);
            }
            return;
        }
        case Loss::kHinge: {
            const double m = y * z;
            l = m < 1.0 ? 1.0 - m : 0.0;
            g = m < 1.0 ? -y : 0.0;
            return;
        }
        case Loss::kSquared:
        default: {
            const double r = z - y;
            l = 0.5 * r * r;
            g = r;
            return;
        }
    }
}

/// The next uint32 of a Philox4x32-10 stream: block k has counter (k, epoch), key seed.
class PhiloxStream {
public:
    PhiloxStream(std::uint64_t seed, std::uint64_t epoch) : seed_(seed), epoch_(epoch) {}
    std::uint32_t next() {
        if (lane_ == 4) {
            block_ = random::philox4x32_10(
                {{static_cast<std::uint32_t>(k_), static_cast<std::uint32_t>(k_ >> 32),
                  static_cast<std::uint32_t>(epoch_), static_cast<std::uint32_t>(epoch_ >> 32)}},
                static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32));
            ++k_;
            lane_ = 0;
        }
        return block_.v[lane_++];
    }
    /// Uniform in [0, range), range in [1, 2^32]: Lemire's multiply-shift with rejection.
    std::uint64_t below(std::uint64_t range) {
        std::uint64_t m = std::uint64_t{next()} * range;
        if (static_cast<std::uint32_t>(m) < range) {
            const std::uint64_t t = ((std::uint64_t{1} << 32) - range) % range;
            while ((m & 0xFFFFFFFFu) < t) m = std::uint64_t{next()} * range;
        }
        return m >> 32;
    }

private:
    std::uint64_t seed_, epoch_, k_ = 0;
    random::Philox4x32 block_{};
    int lane_ = 4;
};

}  // namespace detail

/// Builds the permutation of one epoch in steps, so that it can be drawn while the previous
/// epoch runs. A bucket shuffle, which touches the order array in cache-sized pieces (a plain
/// Fisher-Yates over a few MB swaps at random across it and evicts the training's weights):
///  1. each element i gets a bucket in [0, 256): byte i % 4 of the stream's uint32 i / 4;
///  2. the elements are placed bucket by bucket, ascending within a bucket (counting sort);
///  3. each bucket's slice is shuffled by Fisher-Yates (j = size-1 down to 1, swap j with a
///     uniform k <= j, Lemire's method), buckets in order, with the draws that follow step 1's.
/// Independent uniform buckets, then a uniform order within each, give a uniform permutation.
/// Draws come from PhiloxStream(seed, epoch); step 2 reads step 1's again from a second copy.
/// The result is a pure function of (n, seed, epoch), however the work is split. n < 2^32.
class Shuffle {
public:
    static constexpr std::size_t kBuckets = 256;
    /// Work units for a whole permutation (advance counts one per element and phase).
    static constexpr std::size_t work_for(std::size_t n) { return 3 * n + kBuckets + 8; }

    Shuffle(std::uint32_t* order, std::size_t n, std::uint64_t seed, std::uint64_t epoch)
        : order_(order), n_(n), draws_(seed, epoch), replay_(seed, epoch) {}

    /// Does about `work` elements' worth; returns true when the permutation is complete.
    bool advance(std::size_t work) {
        while (work && phase_ != Phase::kDone) {
            if (phase_ == Phase::kShuffle) {
                work = shuffle_buckets(work);
                continue;
            }
            // Steps 1 and 2, in whole groups of 4 elements (one draw each).
            const std::size_t end = std::min(n_, i_ + ((work + 3) & ~std::size_t{3}));
            work -= std::min(work, end - i_);
            if (phase_ == Phase::kCount) {
                for (; i_ < end; i_ += 4) {
                    const std::uint32_t bits = draws_.next();
                    for (std::size_t k = 0; k < 4 && i_ + k < end; ++k) ++next_[bucket(bits, k)];
                }
            } else {
                for (; i_ < end; i_ += 4) {
                    const std::uint32_t bits = replay_.next();
                    for (std::size_t k = 0; k < 4 && i_ + k < end; ++k)
                        order_[next_[bucket(bits, k)]++] = static_cast<std::uint32_t>(i_ + k);
                }
            }
            if (i_ >= n_) next_phase();
        }
        return done();
    }
    bool done() const { return phase_ == Phase::kDone; }

private:
    enum class Phase { kCount, kPlace, kShuffle, kDone };
    static std::size_t bucket(std::uint32_t bits, std::size_t k) { return (bits >> (8 * k)) & 255; }

    void next_phase() {
        i_ = 0;
        if (phase_ == Phase::kCount) {  // counts -> each bucket's first slot
            std::size_t at = 0;
            for (auto& c : next_) at += std::exchange(c, at);
            phase_ = Phase::kPlace;
        } else {  // next_[b] is now the end of bucket b
            phase_ = Phase::kShuffle;
        }
    }

    /// Step 3 from where it stopped; returns the work left.
    std::size_t shuffle_buckets(std::size_t work) {
        for (; b_ < kBuckets; ++b_, left_ = 0) {
            const std::size_t lo = b_ ? next_[b_ - 1] : 0;
            if (left_ == 0) left_ = next_[b_] - lo;  // positions still to fix, from the top
            for (; left_ > 1; --left_, --work) {
                if (!work) return 0;
                std::swap(order_[lo + left_ - 1], order_[lo + draws_.below(left_)]);
            }
            if (!work) return 0;
            --work;
        }
        phase_ = Phase::kDone;
        return work;
    }

    std::uint32_t* order_;
    std::size_t n_;
    detail::PhiloxStream draws_, replay_;
    std::size_t next_[kBuckets] = {};
    Phase phase_ = Phase::kCount;
    std::size_t i_ = 0, b_ = 0, left_ = 0;
};

/// The permutation of epoch `epoch` (see Shuffle), in one go.
inline void permutation(std::uint32_t* order,
                        std::size_t n,
                        std::uint64_t seed,
                        std::uint64_t epoch) {
    Shuffle(order, n, seed, epoch).advance(Shuffle::work_for(n));
}

namespace detail {

inline int thread_id() {
#if defined(_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/// n default-initialised values (trivial types: not zeroed), so that the pages are first
/// touched where they are filled, by the setup's threads, not zeroed by the calling thread.
template <class U>
std::unique_ptr<U[]> uninitialized(std::size_t n) {
    return std::unique_ptr<U[]>(new U[n]);
}

/// Where row i is and its label, in 16 bytes for float32 (24 for float64).
template <class T>
struct Row {
    std::int64_t begin;
    std::uint32_t nnz;
    T label;
};

/// Prefetches the cache lines of [begin, end).
template <class V>
PFO_INLINE void prefetch_range(const V* begin, const V* end) {
    const char* p = reinterpret_cast<const char*>(begin);
    const char* e = reinterpret_cast<const char*>(end);
    for (; p < e; p += 64) PFO_PREFETCH(p);
    if (e > reinterpret_cast<const char*>(begin))  // the last line when the row straddles it
        PFO_PREFETCH(e - 1);
}

/// One cache line per thread: the per-thread sums never share a line.
struct alignas(64) Padded {
    double value = 0;
};

/// Rows per block of the objective's fixed-order reduction.
inline constexpr std::size_t kObjectiveBlock = 4096;

/// count[j] += the number of times feature j is stored in positions [begin, end).
template <class T, class I, class Count>
void count_features(const Csr<T, I>& X, std::size_t begin, std::size_t end, Count* count) {
    for (std::size_t k = begin; k < end; ++k) ++count[std::size_t(X.indices[k])];
}

/// The setup of a run, on `threads` threads in one parallel region: the first epoch's order
/// (drawn by thread 0, while the others start on the rest), rows[i] = (offset, length,
/// label), and, when L2 is on, c_j = alpha n / count_j into work[j S + c_slot].
template <class T, class I, class Count>
void prepare(const Csr<T, I>& X,
             const T* y,
             const Options& o,
             int threads,
             std::uint32_t* order,
             Row<T>* rows,
             T* work,
             std::size_t S,
             std::size_t c_slot) {
    const std::size_t n = X.n_rows, d = X.n_cols;
    const auto nnz = static_cast<std::size_t>(X.indptr[n]);
    const bool l2 = o.alpha > 0;
    const std::size_t nt = static_cast<std::size_t>(threads);
    // One histogram per thread, summed after: no atomics.
    std::vector<Count> counts(l2 ? d * nt : 0, 0);
    constexpr std::size_t kRowsGrain = 1 << 16, kCountGrain = 1 << 20;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
    {
        const auto t = static_cast<std::size_t>(thread_id());
        if (t == 0) {
            if (o.shuffle)
                permutation(order, n, o.seed, 0);
            else
                for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
        }
#if defined(_OPENMP)
#pragma omp for schedule(dynamic) nowait
#endif
        for (std::size_t i0 = 0; i0 < n; i0 += kRowsGrain)
            for (std::size_t i = i0; i < std::min(n, i0 + kRowsGrain); ++i)
                rows[i] = {X.indptr[i], static_cast<std::uint32_t>(X.indptr[i + 1] - X.indptr[i]),
                           y[i]};
        if (l2) {
            Count* h = counts.data() + t * d;
#if defined(_OPENMP)
#pragma omp for schedule(dynamic)
#endif
            for (std::size_t k0 = 0; k0 < nnz; k0 += kCountGrain)
                count_features(X, k0, std::min(nnz, k0 + kCountGrain), h);
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
            for (std::size_t j = 0; j < d; ++j) {
                std::uint64_t c = 0;
                for (std::size_t u = 0; u < nt; ++u) c += counts[u * d + j];
                work[j * S + c_slot] = c ? T(o.alpha * double(n) / double(c)) : T(0);
            }
        }
    }
}

/// The loss sum of rows [begin, end) under weights w (stride S in `w`) and intercept b.
template <class T, class I, std::size_t S>
double loss_sum(const Csr<T, I>& X,
                const T* y,
                const T* w,
                double b,
                Loss loss,
                std::size_t begin,
                std::size_t end) {
    double total = 0;
    for (std::size_t i = begin; i < end; ++i) {
        double z = b;
        for (std::int64_t k = X.indptr[i]; k < X.indptr[i + 1]; ++k)
            z += double(X.data[k]) * double(racy_load(&w[std::size_t(X.indices[k]) * S]));
        double l, g;
        loss_and_grad(loss, double(y[i]), z, l, g);
        total += l;
    }
    return total;
}

/// The training loop; kAdagrad and kL2 pick the state kept next to each weight in `work`
/// (stride S: w, then A if Adagrad, then c if L2; padded to a power of two so that one
/// coordinate's values share a cache line).
template <class T, class I, bool kAdagrad, bool kL2>
double train_impl(
    const Csr<T, I>& X, const T* y, T* coef, double intercept, const Options& o, double* history) {
    constexpr std::size_t kUsed = 1 + kAdagrad + kL2;
    constexpr std::size_t S = kUsed == 3 ? 4 : kUsed;
    const std::size_t n = X.n_rows, d = X.n_cols;

    int threads = o.threads < 1 ? 1 : o.threads;
#if !defined(_OPENMP)
    threads = 1;
#endif
    std::vector<T> work(d * S, T(0));
    for (std::size_t j = 0; j < d; ++j) work[j * S] = coef[j];
    // Two orders: epoch e runs on one while the next epoch's is drawn into the other.
    std::unique_ptr<std::uint32_t[]> orders[2] = {uninitialized<std::uint32_t>(n),
                                                  uninitialized<std::uint32_t>(o.shuffle ? n : 0)};
    // A row's offsets and label side by side: visited in random order, each costs one cache
    // line instead of two (the loop is bound by memory traffic on 2 threads).
    const std::unique_ptr<Row<T>[]> rows = uninitialized<Row<T>>(n);
    // 32-bit feature counts while they cannot overflow: the histograms stay in L2 longer.
    if (static_cast<std::size_t>(X.indptr[n]) < (std::size_t{1} << 32))
        prepare<T, I, std::uint32_t>(X, y, o, threads, orders[0].get(), rows.get(), work.data(), S,
                                     1 + kAdagrad);
    else
        prepare<T, I, std::uint64_t>(X, y, o, threads, orders[0].get(), rows.get(), work.data(), S,
                                     1 + kAdagrad);
    Shuffle next_order(orders[1].get(), n, o.seed, 1);
    const bool shared_b = threads > 1;
    std::atomic<double> b_shared{intercept};
    std::atomic<double> a_shared{0.0};  // the intercept's Adagrad sum
    double b_single = intercept, a_single = 0.0;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> rates_failed{false};  // fill_rates said stop (set by thread 0)
    bool ended = false;  // written in the `omp single` only: every thread sees one value
    std::vector<Padded> loss_of(static_cast<std::size_t>(threads));
    const std::size_t n_blocks = (n + kObjectiveBlock - 1) / kObjectiveBlock;
    std::vector<double> block_loss(o.objective_history ? n_blocks : 0);

    T* const w = work.data();
    const Row<T>* const row = rows.get();
    const I* const indices = X.indices;
    const T* const data = X.data;
    const Loss loss = o.loss;
    const double eps = o.eps;
    const bool fit_b = o.fit_intercept;
    const double b_scale = o.intercept_lr_scale;

    // Positions [begin, end) of the epoch's order with the rates `rate` (one per position,
    // or null: `fixed_rate`), a thread's intercept b and its Adagrad sum ab; returns the
    // sum of the examples' losses.
    auto run_range = [=](const std::uint32_t* perm, std::size_t begin, std::size_t end,
                         const double* rate, double fixed_rate, double& b, double& ab) {
        double loss_total = 0;
        for (std::size_t p = begin; p < end; ++p) {
            // Rows are visited in random order, far apart in memory, and the weights they
            // touch were last written by any thread. Prefetch in three stages: a row's
            // offsets and label, then (once they have arrived) its indices and values,
            // then (once those have arrived) its weights, with intent to write.
            if (p + kAheadOffsets < n) {
                const std::size_t r = perm[p + kAheadOffsets];
                PFO_PREFETCH(row + r);
            }
            if (p + kAheadRow < n) {
                const std::size_t r = perm[p + kAheadRow];
                const std::int64_t k0 = row[r].begin, k1 = k0 + row[r].nnz;
                prefetch_range(indices + k0, indices + k1);
                prefetch_range(data + k0, data + k1);
            }
            if (p + kAheadWeights < n) {
                const std::size_t r = perm[p + kAheadWeights];
                const std::int64_t k0 = row[r].begin, k1 = k0 + row[r].nnz;
                for (std::int64_t k = k0; k < k1; ++k)
                    PFO_PREFETCH_W(&w[std::size_t(indices[k]) * S]);
            }
            const std::size_t i = perm[p];
            const std::int64_t k0 = row[i].begin, k1 = k0 + row[i].nnz;
            double z = b;
            for (std::int64_t k = k0; k < k1; ++k)
                z += double(data[k]) * double(racy_load(&w[std::size_t(indices[k]) * S]));
            double l, g;
            loss_and_grad(loss, double(row[i].label), z, l, g);
            loss_total += l;
            const double lr = rate ? rate[p] : fixed_rate;
            if (g == 0.0 && !kL2) continue;  // nothing moves (hinge beyond the margin)
            const double lr_g = lr * g;
            for (std::int64_t k = k0; k < k1; ++k) {
                T* const wj = &w[std::size_t(indices[k]) * S];
                const double x = double(data[k]);
                const double wv = double(racy_load(wj));
                if constexpr (kAdagrad) {
                    double grad = g * x;
                    if constexpr (kL2) grad += double(wj[2]) * wv;
                    const T acc = T(double(racy_load(wj + 1)) + grad * grad);
                    racy_store(wj + 1, acc);
                    racy_store(wj, T(wv - lr * grad / (std::sqrt(double(acc)) + eps)));
                } else if constexpr (kL2) {
                    racy_store(wj, T(wv - lr * (g * x + double(wj[1]) * wv)));
                } else {
                    racy_store(wj, T(wv - lr_g * x));
                }
            }
            if (fit_b) {
                if constexpr (kAdagrad) {
                    ab += g * g;
                    b -= lr * b_scale * g / (std::sqrt(ab) + eps);
                } else {
                    b -= lr_g * b_scale;
                }
            }
        }
        return loss_total;
    };

#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
    {
        const int tid = thread_id();
        for (std::size_t epoch = 0; epoch < o.epochs && !ended; ++epoch) {
            if (tid == 0 && o.fill_rates && epoch + 1 < o.epochs &&
                !o.fill_rates(o.rates_context, epoch + 1))
                rates_failed.store(true, std::memory_order_relaxed);
            const std::uint32_t* const perm = orders[o.shuffle ? epoch % 2 : 0].get();
            const bool draw_next = o.shuffle && tid == 0 && epoch + 1 < o.epochs;
            const double fixed_rate = o.rate_unit == RateUnit::kConstant ? o.rates[0]
                                      : o.rate_unit == RateUnit::kEpoch  ? o.rates[epoch]
                                                                         : 0.0;
            const std::size_t slot = o.fill_rates ? epoch % 2 : epoch;  // see Options::rates
            const double* rate = o.rate_unit == RateUnit::kStep ? o.rates + slot * n : nullptr;
            double my_loss = 0;
            for (;;) {
                const std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
                if (begin >= n) break;
                const std::size_t end = std::min(n, begin + kChunk);
                if (!shared_b || !fit_b) {
                    my_loss += run_range(perm, begin, end, rate, fixed_rate, b_single, a_single);
                } else {
                    for (std::size_t sub = begin; sub < end; sub += kSync) {
                        double b = b_shared.load(std::memory_order_relaxed);
                        double ab = a_shared.load(std::memory_order_relaxed);
                        const double b0 = b, ab0 = ab;
                        my_loss += run_range(perm, sub, std::min(end, sub + kSync), rate,
                                             fixed_rate, b, ab);
                        atomic_add(b_shared, b - b0);
                        if constexpr (kAdagrad) atomic_add(a_shared, ab - ab0);
                    }
                }
                // Thread 0 draws the next epoch's order alongside: kShuffleWork units per
                // example it trains (3 per element) finish it within the first half of an
                // epoch on 2 threads.
                if (draw_next) next_order.advance(kShuffleWork * (end - begin));
            }
            loss_of[static_cast<std::size_t>(tid)].value = my_loss;
#if defined(_OPENMP)
#pragma omp barrier
#endif
            if (o.objective_history) {
                const double b = shared_b ? b_shared.load() : b_single;
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
                for (std::size_t blk = 0; blk < n_blocks; ++blk)
                    block_loss[blk] = loss_sum<T, I, S>(X, y, w, b, loss, blk * kObjectiveBlock,
                                                        std::min(n, (blk + 1) * kObjectiveBlock));
            }  // implicit barrier of omp for
#if defined(_OPENMP)
#pragma omp single
#endif
            {
                double total = 0;
                if (o.objective_history) {
                    for (double v : block_loss) total += v;
                    double sq = 0;
                    for (std::size_t j = 0; j < d; ++j) sq += double(w[j * S]) * double(w[j * S]);
                    history[epoch] = (n ? total / double(n) : 0.0) + 0.5 * o.alpha * sq;
                } else {
                    for (const auto& t : loss_of) total += t.value;
                    history[epoch] = n ? total / double(n) : 0.0;
                }
                next.store(0, std::memory_order_relaxed);  // the next epoch's first chunk
                ended = rates_failed.load(std::memory_order_relaxed);
                if (o.shuffle && epoch + 1 < o.epochs) {
                    // Whatever is left (small n, or a busy thread 0).
                    next_order.advance(Shuffle::work_for(n));
                    if (epoch + 2 < o.epochs)  // the epoch after: into the order just used
                        next_order = Shuffle(orders[epoch % 2].get(), n, o.seed, epoch + 2);
                }
            }  // implicit barrier before the next epoch's shuffle
        }
    }
    for (std::size_t j = 0; j < d; ++j) coef[j] = w[j * S];
    return shared_b ? b_shared.load() : b_single;
}

}  // namespace detail

/// Trains in place: `coef` (n_cols values) holds the initial weights and receives the
/// result; returns the intercept (starting from `intercept`). history[e] (o.epochs values)
/// receives epoch e's mean loss over its examples, each taken at the weights it was trained
/// with (the running, "progressive" loss; no penalty term), or with o.objective_history
/// the objective F after the epoch. Labels y are +-1 for the classification losses. The
/// caller checks the CSR, rows of fewer than 2^32 values (see the top of the file for the
/// update rule and the races).
template <class T, class I>
double train(
    const Csr<T, I>& X, const T* y, T* coef, double intercept, const Options& o, double* history) {
    const bool l2 = o.alpha > 0;
    if (o.adagrad)
        return l2 ? detail::train_impl<T, I, true, true>(X, y, coef, intercept, o, history)
                  : detail::train_impl<T, I, true, false>(X, y, coef, intercept, o, history);
    return l2 ? detail::train_impl<T, I, false, true>(X, y, coef, intercept, o, history)
              : detail::train_impl<T, I, false, false>(X, y, coef, intercept, o, history);
}

/// margins[i] = w . x_i + b for every row, on up to `threads` threads.
template <class T, class I>
void decision_function(
    const Csr<T, I>& X, const T* coef, double intercept, double* margins, int threads) {
    const std::size_t n = X.n_rows;
    (void)threads;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(threads < 1 ? 1 : threads) if (n > 4096)
#endif
    for (std::size_t i = 0; i < n; ++i) {
        double z = intercept;
        for (std::int64_t k = X.indptr[i]; k < X.indptr[i + 1]; ++k)
            z += double(X.data[k]) * double(coef[std::size_t(X.indices[k])]);
        margins[i] = z;
    }
}

/// The objective F(w, b) (see the top of the file), reduced in fixed blocks of rows: the
/// same value for any thread count.
template <class T, class I>
double objective(const Csr<T, I>& X,
                 const T* y,
                 const T* coef,
                 double intercept,
                 Loss loss,
                 double alpha,
                 int threads) {
    const std::size_t n = X.n_rows, d = X.n_cols;
    const std::size_t n_blocks = (n + detail::kObjectiveBlock - 1) / detail::kObjectiveBlock;
    std::vector<double> block(n_blocks, 0.0);
    (void)threads;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(threads < 1 ? 1 : threads) if (n_blocks > 1)
#endif
    for (std::size_t blk = 0; blk < n_blocks; ++blk)
        block[blk] =
            detail::loss_sum<T, I, 1>(X, y, coef, intercept, loss, blk * detail::kObjectiveBlock,
                                      std::min(n, (blk + 1) * detail::kObjectiveBlock));
    double total = 0;
    for (double v : block) total += v;
    double sq = 0;
    for (std::size_t j = 0; j < d; ++j) sq += double(coef[j]) * double(coef[j]);
    return (n ? total / double(n) : 0.0) + 0.5 * alpha * sq;
}

}  // namespace pyfastopt::hogwild
