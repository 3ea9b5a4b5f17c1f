// CDF 9/7 wavelet packet analysis (PyWavelets "bior4.4") on float32 (the encoder also on uint8 /
// int16 samples), and its synthesis, by lifting: the fast CPU paths of walloc.wavelet.packet1d /
// packet2d and ipacket1d / ipacket2d, with either border rule (``sym``):
//   periodic   mode "periodization": the signal wraps around;
//   symmetric  whole-sample symmetric extension at every level (JPEG 2000): a missing neighbour is
//              its mirror image, x[N] = x[N - 2] and x[-1] = x[1].
//
// Lifting (Daubechies & Sweldens 1998) splits a signal into its even samples s and odd samples d
// and updates them in place with four two-tap steps and one scaling, ~7 flops per sample and
// axis instead of the ~57 taps per sample of the equivalent multi-level filter bank.  The steps are
// identities of Laurent polynomials, so they hold modulo z^m - 1 for every period m >= 1: periodic
// boundaries need no padding, even when a length-2 level wraps around more than once.  Symmetric
// boundaries change only each step's end term; either way a step is undone by subtracting it.  Synthesis
// undoes the scaling, then the four steps in reverse order with negated coefficients, level by level
// from the deepest.
//
// Subband order is that of walloc.wavelet: a 1-D level turns signal p into 2p (low), 2p + 1 (high);
// a 2-D level turns plane p into 4p + (high along H) + 2 * (high along W).
//
// Nothing here depends on Python; csrc/packet_py.cpp binds it as walloc._packet.

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace wpacket {

// CDF 9/7 lifting constants; with them, low = K * s and high = -d / K match pywt's bior4.4.
constexpr float ALPHA = -1.586134342059924f;
constexpr float BETA = -0.052980118572961f;
constexpr float GAMMA = 0.882911075530934f;
constexpr float DELTA = 0.443506852043971f;
constexpr float K = 1.149604398860241f;
constexpr float LOW = K, HIGH = -1.0f / K;

// Columns per stripe of the vertical pass: the stripe's rows stay in cache across the four steps.
constexpr std::ptrdiff_t STRIPE = 64;

// -- one level along a contiguous signal ------------------------------------------------------------

// a[i] += c * (b[i] + b[i + 1]): the predict form (odd sample between two evens); b[m] is b[0]
// (periodic) or b[m - 1] (symmetric).
inline void step_next(float* __restrict a, const float* __restrict b, std::ptrdiff_t m, float c, bool sym) {
  for (std::ptrdiff_t i = 0; i + 1 < m; ++i) a[i] += c * (b[i] + b[i + 1]);
  a[m - 1] += c * (b[m - 1] + b[sym ? m - 1 : 0]);
}

// a[i] += c * (b[i - 1] + b[i]): the update form (even sample between two odds); b[-1] is b[m - 1]
// (periodic) or b[0] (symmetric).
inline void step_prev(float* __restrict a, const float* __restrict b, std::ptrdiff_t m, float c, bool sym) {
  a[0] += c * (b[sym ? 0 : m - 1] + b[0]);
  for (std::ptrdiff_t i = 1; i < m; ++i) a[i] += c * (b[i - 1] + b[i]);
}

// A sample as the codec's float: integer samples are read as walloc.tiling.to_float converts them
// (float32(x) / 255 for uint8 images, / 32768 for int16 audio, a true division: the same floats), so
// the encoder takes them as they are and no float copy of the whole signal is ever made.
inline float sample(float v) { return v; }
inline float sample(std::uint8_t v) { return float(v) / 255.0f; }
inline float sample(std::int16_t v) { return float(v) / 32768.0f; }

// Samples x[0], x[stride], ... (n even) -> low (n/2) and high (n/2), times lo_scale and hi_scale.
template <class T>
inline void split(const T* x, std::ptrdiff_t stride, std::ptrdiff_t n, float* __restrict low,
                  float* __restrict high, float lo_scale, float hi_scale, bool sym) {
  const std::ptrdiff_t m = n / 2;
  if (stride == 1) {
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      low[i] = sample(x[2 * i]);
      high[i] = sample(x[2 * i + 1]);
    }
  } else {
    for (std::ptrdiff_t i = 0; i < m; ++i) {
      low[i] = sample(x[2 * i * stride]);
      high[i] = sample(x[(2 * i + 1) * stride]);
    }
  }
  step_next(high, low, m, ALPHA, sym);
  step_prev(low, high, m, BETA, sym);
  step_next(high, low, m, GAMMA, sym);
  step_prev(low, high, m, DELTA, sym);
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    low[i] *= lo_scale;
    high[i] *= hi_scale;
  }
}

// -- one level down the rows of a plane ---------------------------------------------------------------

// Row i of s (even rows) and d (odd rows), each m rows of w floats, at row pitch w.
inline void rows_next(float* d, const float* s, std::ptrdiff_t m, std::ptrdiff_t w, std::ptrdiff_t x0,
                      std::ptrdiff_t x1, float c, bool sym) {
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    float* __restrict a = d + i * w;
    const float* __restrict b0 = s + i * w;
    const float* __restrict b1 = s + (i + 1 < m ? i + 1 : sym ? m - 1 : 0) * w;
    for (std::ptrdiff_t x = x0; x < x1; ++x) a[x] += c * (b0[x] + b1[x]);
  }
}

inline void rows_prev(float* s, const float* d, std::ptrdiff_t m, std::ptrdiff_t w, std::ptrdiff_t x0,
                      std::ptrdiff_t x1, float c, bool sym) {
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    float* __restrict a = s + i * w;
    const float* __restrict b0 = d + (i > 0 ? i - 1 : sym ? 0 : m - 1) * w;
    const float* __restrict b1 = d + i * w;
    for (std::ptrdiff_t x = x0; x < x1; ++x) a[x] += c * (b0[x] + b1[x]);
  }
}

// Vertical lifting in place: s holds the even rows, d the odd rows (m rows of w floats each).
// With scale, the final K / -1/K is applied here; otherwise the caller folds it into a later pass.
inline void split_rows(float* s, float* d, std::ptrdiff_t m, std::ptrdiff_t w, bool scale, bool sym) {
  for (std::ptrdiff_t x0 = 0; x0 < w; x0 += STRIPE) {
    const std::ptrdiff_t x1 = std::min(w, x0 + STRIPE);
    rows_next(d, s, m, w, x0, x1, ALPHA, sym);
    rows_prev(s, d, m, w, x0, x1, BETA, sym);
    rows_next(d, s, m, w, x0, x1, GAMMA, sym);
    rows_prev(s, d, m, w, x0, x1, DELTA, sym);
    if (scale) {
      for (std::ptrdiff_t i = 0; i < m; ++i) {
        float* __restrict a = s + i * w;
        float* __restrict b = d + i * w;
        for (std::ptrdiff_t x = x0; x < x1; ++x) {
          a[x] *= LOW;
          b[x] *= HIGH;
        }
      }
    }
  }
}

// One 2-D level of plane src (h x w, strides sh, sw) into four contiguous (h/2 x w/2) planes at
// dst: (low H, low W), (high H, low W), (low H, high W), (high H, high W).  ``pending`` is a scale
// still owed by src (the vertical scaling of the level before, folded into this horizontal pass).
template <class T>
inline void split2d(const T* src, std::ptrdiff_t sh, std::ptrdiff_t sw, std::ptrdiff_t h, std::ptrdiff_t w,
                    float* dst, float pending, bool last, bool sym) {
  const std::ptrdiff_t hh = h / 2, hw = w / 2, q = hh * hw;
  // horizontal: row y goes to row y/2 of the even-row (s) or odd-row (d) plane of each W band
  for (std::ptrdiff_t y = 0; y < h; ++y) {
    const std::ptrdiff_t at = (y & 1) * q + (y / 2) * hw;
    split(src + y * sh, sw, w, dst + at, dst + 2 * q + at, LOW * pending, HIGH * pending, sym);
  }
  // vertical: the s and d planes of each W band are the two halves of one lifting
  split_rows(dst, dst + q, hh, hw, last, sym);
  split_rows(dst + 2 * q, dst + 3 * q, hh, hw, last, sym);
}

// Where the compiler and loader can pick among versions at load time (GCC ifunc, x86-64 Linux),
// the per-plane transforms also get an AVX2 version, used on CPUs that have it: the same operations
// (no FMA, see setup.py), only eight floats at a time, so the same results.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define WPACKET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WPACKET_CLONES
#endif

// Scratch reused across calls on the same thread, so steady coding allocates (and page-faults)
// nothing; slot 0 holds the ping-pong plane of a packet or its synthesis, 1 and 2 the encoder's
// coefficients and terms.
// Buffers above RETAIN floats are the caller's own (``own``) instead of being pinned for good.
constexpr std::size_t RETAIN = std::size_t(1) << 20;

inline float* scratch(int slot, std::size_t n, std::vector<float>& own) {
  thread_local std::vector<float> kept[3];
  std::vector<float>& buf = n <= RETAIN ? kept[slot] : own;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Packet of one plane of samples T: J levels, ping-ponging between dst (levels J, J-2, ...) and one
// scratch plane; the first level reads src (strides sh, sw), the later ones contiguous floats.
template <class T>
WPACKET_CLONES inline void packet2d_plane(const T* src, std::ptrdiff_t sh, std::ptrdiff_t sw, std::ptrdiff_t h,
                           std::ptrdiff_t w, int levels, float* dst, bool sym) {
  std::vector<float> own;
  float* tmp = levels > 1 ? scratch(0, std::size_t(h * w), own) : nullptr;
  float* in = (levels - 1) % 2 == 0 ? dst : tmp;
  split2d(src, sh, sw, h, w, in, 1.0f, levels == 1, sym);
  for (int l = 2; l <= levels; ++l) {
    float* out = (levels - l) % 2 == 0 ? dst : tmp;
    const std::ptrdiff_t n = std::ptrdiff_t(1) << (2 * (l - 1));  // planes in, each (ph x pw)
    const std::ptrdiff_t ph = h >> (l - 1), pw = w >> (l - 1);
    for (std::ptrdiff_t p = 0; p < n; ++p) {
      // plane p's vertical scaling is still owed: K for a low-H band, -1/K for a high one
      split2d(in + p * ph * pw, pw, std::ptrdiff_t(1), ph, pw, out + 4 * p * (ph / 2) * (pw / 2), p & 1 ? HIGH : LOW,
              l == levels, sym);
    }
    in = out;
  }
}

// Packet of one signal of samples T: J levels of length-halving splits, ping-ponging like packet2d_plane.
template <class T>
WPACKET_CLONES inline void packet1d_signal(const T* src, std::ptrdiff_t stride, std::ptrdiff_t n, int levels, float* dst,
                                           bool sym) {
  std::vector<float> own;
  float* tmp = levels > 1 ? scratch(0, std::size_t(n), own) : nullptr;
  float* in = (levels - 1) % 2 == 0 ? dst : tmp;
  split(src, stride, n, in, in + n / 2, LOW, HIGH, sym);
  for (int l = 2; l <= levels; ++l) {
    float* out = (levels - l) % 2 == 0 ? dst : tmp;
    const std::ptrdiff_t count = std::ptrdiff_t(1) << (l - 1), len = n >> (l - 1);
    for (std::ptrdiff_t p = 0; p < count; ++p)
      split(in + p * len, std::ptrdiff_t(1), len, out + 2 * p * (len / 2), out + (2 * p + 1) * (len / 2), LOW, HIGH, sym);
    in = out;
  }
}

// -- synthesis -------------------------------------------------------------------------------------------

// The analysis scaling undone: 1 / LOW and 1 / HIGH.
constexpr float INV_LOW = 1.0f / K, INV_HIGH = -K;

// What a band owes before its level can be merged: the inverse of its analysis scaling (1-D band
// low/high, 2-D band (high along H) + 2 * (high along W)).
inline float unscale1d(std::ptrdiff_t band) { return band & 1 ? INV_HIGH : INV_LOW; }
inline float unscale2d(std::ptrdiff_t band) { return unscale1d(band) * unscale1d(band >> 1); }

// Inverse of split on unscaled low and high (m each), lifted in place; the samples go interleaved to
// x[0, 2m), times ``scale`` (the unscaling that x owes the next synthesis level, 1 at the last).
inline void merge(float* __restrict low, float* __restrict high, std::ptrdiff_t m, float* __restrict x, float scale,
                  bool sym) {
  step_prev(low, high, m, -DELTA, sym);
  step_next(high, low, m, -GAMMA, sym);
  step_prev(low, high, m, -BETA, sym);
  step_next(high, low, m, -ALPHA, sym);
  for (std::ptrdiff_t i = 0; i < m; ++i) {
    x[2 * i] = low[i] * scale;
    x[2 * i + 1] = high[i] * scale;
  }
}

// Inverse of split_rows (without scaling) on the even rows s and odd rows d, in place, stripe by stripe.
inline void merge_rows(float* s, float* d, std::ptrdiff_t m, std::ptrdiff_t w, bool sym) {
  for (std::ptrdiff_t x0 = 0; x0 < w; x0 += STRIPE) {
    const std::ptrdiff_t x1 = std::min(w, x0 + STRIPE);
    rows_prev(s, d, m, w, x0, x1, -DELTA, sym);
    rows_next(d, s, m, w, x0, x1, -GAMMA, sym);
    rows_prev(s, d, m, w, x0, x1, -BETA, sym);
    rows_next(d, s, m, w, x0, x1, -ALPHA, sym);
  }
}

// Inverse of split2d: the four unscaled (h/2 x w/2) planes at src, lifted in place, -> the contiguous
// (h x w) plane dst, times ``scale``.  Vertical first, as the analysis ended with it.
inline void merge2d(float* src, std::ptrdiff_t h, std::ptrdiff_t w, float* dst, float scale, bool sym) {
  const std::ptrdiff_t hh = h / 2, hw = w / 2, q = hh * hw;
  merge_rows(src, src + q, hh, hw, sym);
  merge_rows(src + 2 * q, src + 3 * q, hh, hw, sym);
  for (std::ptrdiff_t y = 0; y < h; ++y) {
    const std::ptrdiff_t at = (y & 1) * q + (y / 2) * hw;
    merge(src + at, src + 2 * q + at, hw, dst + y * w, scale, sym);
  }
}

// count planes (h x w at strides sh, sw; plane i at src + i * sc) -> contiguous at dst, plane i times
// unscale(i): the caller's coefficients are read once and never written.
template <class Unscale>
inline void gather(const float* src, std::ptrdiff_t count, std::ptrdiff_t sc, std::ptrdiff_t h, std::ptrdiff_t sh,
                   std::ptrdiff_t w, std::ptrdiff_t sw, float* __restrict dst, Unscale unscale) {
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    const float f = unscale(i);
    for (std::ptrdiff_t y = 0; y < h; ++y) {
      const float* row = src + i * sc + y * sh;
      float* __restrict out = dst + (i * h + y) * w;
      if (sw == 1)
        for (std::ptrdiff_t x = 0; x < w; ++x) out[x] = row[x] * f;
      else
        for (std::ptrdiff_t x = 0; x < w; ++x) out[x] = row[x * sw] * f;
    }
  }
}

// Synthesis of one (h x w) plane from its 4^J coefficient planes (plane i at src + i * sc, strides
// sh, sw): merges ping-pong between dst (levels 1, 3, ...) and one scratch plane, the deepest first.
WPACKET_CLONES inline void ipacket2d_plane(const float* src, std::ptrdiff_t sc, std::ptrdiff_t sh, std::ptrdiff_t sw,
                                           std::ptrdiff_t h, std::ptrdiff_t w, int levels, float* dst, bool sym) {
  std::vector<float> own;
  float* tmp = scratch(0, std::size_t(h * w), own);
  float* in = levels % 2 == 0 ? dst : tmp;
  gather(src, std::ptrdiff_t(1) << (2 * levels), sc, h >> levels, sh, w >> levels, sw, in, unscale2d);
  for (int l = levels; l >= 1; --l) {
    float* out = (l - 1) % 2 == 0 ? dst : tmp;
    const std::ptrdiff_t n = std::ptrdiff_t(1) << (2 * (l - 1));  // planes out, each (2ph x 2pw)
    const std::ptrdiff_t ph = h >> l, pw = w >> l;
    for (std::ptrdiff_t p = 0; p < n; ++p)
      merge2d(in + 4 * p * ph * pw, 2 * ph, 2 * pw, out + 4 * p * ph * pw, l > 1 ? unscale2d(p) : 1.0f, sym);
    in = out;
  }
}

// Synthesis of one signal of length n from its 2^J coefficient signals (signal i at src + i * sc,
// stride s), ping-ponging like ipacket2d_plane.
WPACKET_CLONES inline void ipacket1d_signal(const float* src, std::ptrdiff_t sc, std::ptrdiff_t s, std::ptrdiff_t n,
                                            int levels, float* dst, bool sym) {
  std::vector<float> own;
  float* tmp = scratch(0, std::size_t(n), own);
  float* in = levels % 2 == 0 ? dst : tmp;
  gather(src, std::ptrdiff_t(1) << levels, sc, 1, 0, n >> levels, s, in, unscale1d);
  for (int l = levels; l >= 1; --l) {
    float* out = (l - 1) % 2 == 0 ? dst : tmp;
    const std::ptrdiff_t count = std::ptrdiff_t(1) << (l - 1), len = n >> l;
    for (std::ptrdiff_t p = 0; p < count; ++p)
      merge(in + 2 * p * len, in + (2 * p + 1) * len, len, out + 2 * p * len, l > 1 ? unscale1d(p) : 1.0f, sym);
    in = out;
  }
}

// Run fn(i) for i in [0, n) over up to ``threads`` threads (the caller's thread included).
template <class Fn>
void parallel_for(std::ptrdiff_t n, int threads, Fn fn) {
  const std::ptrdiff_t t = std::max<std::ptrdiff_t>(1, std::min<std::ptrdiff_t>(threads, n));
  auto run = [&](std::ptrdiff_t k) {
    for (std::ptrdiff_t i = n * k / t; i < n * (k + 1) / t; ++i) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::ptrdiff_t k = 1; k < t; ++k) pool.emplace_back(run, k);
  run(0);
  for (auto& th : pool) th.join();
}

inline void check_levels(std::ptrdiff_t n, int levels, const char* axis) {
  if (levels < 1 || levels > 30) throw std::invalid_argument("levels must be in 1..30");
  if (n <= 0 || n % (std::ptrdiff_t(1) << levels))
    throw std::invalid_argument(std::string(axis) + " must be a positive multiple of 2**levels");
}

// Signal channels behind ``channels`` packet channels of ``levels`` levels, 2^dims bands per level.
inline std::ptrdiff_t signal_channels(std::ptrdiff_t channels, int levels, int dims) {
  if (levels < 1 || levels > 30) throw std::invalid_argument("levels must be in 1..30");
  const std::ptrdiff_t bands = std::ptrdiff_t(1) << (dims * levels);
  if (channels <= 0 || channels % bands)
    throw std::invalid_argument(std::string("channels must be a positive multiple of ") + (dims == 2 ? "4" : "2") +
                                "**levels");
  return channels / bands;
}

// -- the encoder: packet, then a 1x1 projection, without the packet ever existing in full ----------------

typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));

// The ABI note on 8-float vectors passed by value does not apply: the functions that take them are
// always inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

// Unaligned vector access, always inlined: 8-float vectors then stay in registers in gemm_avx2.
template <class V>
__attribute__((always_inline)) inline V load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <class V>
__attribute__((always_inline)) inline void store(float* p, const V& v) { __builtin_memcpy(p, &v, sizeof v); }

// part (k x n) = w (k x q, row pitch ldw) . p (q x n), in register tiles of 4 outputs x two vectors V
// of positions (8 accumulator registers).  Every output sums its q products in order from zero, in
// the tiles and the scalar edges alike, so results depend neither on the tiling nor on V.
template <class V>
__attribute__((always_inline)) inline void gemm_tiles(const float* w, std::ptrdiff_t ldw, const float* p,
                                                      std::ptrdiff_t k, std::ptrdiff_t q, std::ptrdiff_t n, float* part) {
  constexpr std::ptrdiff_t KB = 4, L = sizeof(V) / sizeof(float), NB = 2 * L;
  std::ptrdiff_t n0 = 0;
  for (; n0 + NB <= n; n0 += NB) {
    std::ptrdiff_t k0 = 0;
    for (; k0 + KB <= k; k0 += KB) {
      V acc[KB][2] = {};
      for (std::ptrdiff_t j = 0; j < q; ++j) {
        const V a = load<V>(p + j * n + n0), b = load<V>(p + j * n + n0 + L);
        for (std::ptrdiff_t r = 0; r < KB; ++r) {
          const V cv = w[(k0 + r) * ldw + j] - V{};  // broadcast: c - 0 is c, -0 included
          acc[r][0] += cv * a;
          acc[r][1] += cv * b;
        }
      }
      for (std::ptrdiff_t r = 0; r < KB; ++r) {
        store(part + (k0 + r) * n + n0, acc[r][0]);
        store(part + (k0 + r) * n + n0 + L, acc[r][1]);
      }
    }
    for (; k0 < k; ++k0) {
      V acc[2] = {};
      for (std::ptrdiff_t j = 0; j < q; ++j) {
        const V cv = w[k0 * ldw + j] - V{};
        acc[0] += cv * load<V>(p + j * n + n0);
        acc[1] += cv * load<V>(p + j * n + n0 + L);
      }
      store(part + k0 * n + n0, acc[0]);
      store(part + k0 * n + n0 + L, acc[1]);
    }
  }
  for (; n0 < n; ++n0)
    for (std::ptrdiff_t r = 0; r < k; ++r) {
      float acc = 0.0f;
      for (std::ptrdiff_t j = 0; j < q; ++j) acc += w[r * ldw + j] * p[j * n + n0];
      part[r * n + n0] = acc;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) inline void gemm_avx2(const float* w, std::ptrdiff_t ldw, const float* p,
                                                      std::ptrdiff_t k, std::ptrdiff_t q, std::ptrdiff_t n, float* part) {
  gemm_tiles<v8>(w, ldw, p, k, q, n, part);
}
#endif

// gemm_tiles with 8-float vectors on CPUs with AVX2 (twice the products per instruction, the same
// sums), with 4-float ones elsewhere (8-float vectors would run SSE out of registers).
inline void gemm(const float* w, std::ptrdiff_t ldw, const float* p, std::ptrdiff_t k, std::ptrdiff_t q,
                 std::ptrdiff_t n, float* part) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return gemm_avx2(w, ldw, p, k, q, n, part);
#endif
  gemm_tiles<v4>(w, ldw, p, k, q, n, part);
}
#pragma GCC diagnostic pop

// z (B, K, N) = bias + sum over channels c of w[:, c*Q:(c+1)*Q] . packet(x[b, c]): the channels'
// terms are formed separately and added in channel order, whatever the threads, so the result is
// the same for every thread count.  ``one`` computes the packet of one (b, c) into its argument.
template <class Packet>
void encode(std::ptrdiff_t batch, std::ptrdiff_t channels, std::ptrdiff_t q, std::ptrdiff_t n, const float* w,
            const float* bias, std::ptrdiff_t k, float* z, int threads, Packet one) {
  const std::ptrdiff_t planes = batch * channels, kn = k * n;
  auto term = [&](std::ptrdiff_t i, float* part) {
    std::vector<float> own;
    float* coeff = scratch(1, std::size_t(q * n), own);
    one(i, coeff);
    gemm(w + (i % channels) * q, channels * q, coeff, k, q, n, part);
  };
  auto add = [&](std::ptrdiff_t i, const float* part) {
    float* __restrict out = z + (i / channels) * kn;
    if (i % channels == 0)
      for (std::ptrdiff_t r = 0; r < k; ++r)
        for (std::ptrdiff_t j = 0; j < n; ++j) out[r * n + j] = bias[r] + part[r * n + j];
    else
      for (std::ptrdiff_t j = 0; j < kn; ++j) out[j] += part[j];
  };
  if (threads <= 1 || planes <= 1) {
    std::vector<float> own;
    float* part = scratch(2, std::size_t(kn), own);
    for (std::ptrdiff_t i = 0; i < planes; ++i) {
      term(i, part);
      add(i, part);
    }
    return;
  }
  std::vector<float> parts(std::size_t(planes * kn));
  parallel_for(planes, threads, [&](std::ptrdiff_t i) { term(i, parts.data() + i * kn); });
  parallel_for(batch, threads, [&](std::ptrdiff_t b) {
    for (std::ptrdiff_t c = 0; c < channels; ++c) add(b * channels + c, parts.data() + (b * channels + c) * kn);
  });
}

// x (B, C, H, W) at element strides s[4] -> dst contiguous (B, C * 4^J, H / 2^J, W / 2^J).
inline void packet2d(const float* x, const std::ptrdiff_t shape[4], const std::ptrdiff_t s[4], int levels,
                     float* dst, int threads, bool sym) {
  const std::ptrdiff_t c = shape[1], h = shape[2], w = shape[3];
  check_levels(h, levels, "H");
  check_levels(w, levels, "W");
  parallel_for(shape[0] * c, threads, [&](std::ptrdiff_t i) {
    packet2d_plane(x + (i / c) * s[0] + (i % c) * s[1], s[2], s[3], h, w, levels, dst + i * h * w, sym);
  });
}

// x (B, C, L) at element strides s[3] -> dst contiguous (B, C * 2^J, L / 2^J).
inline void packet1d(const float* x, const std::ptrdiff_t shape[3], const std::ptrdiff_t s[3], int levels,
                     float* dst, int threads, bool sym) {
  const std::ptrdiff_t c = shape[1], n = shape[2];
  check_levels(n, levels, "L");
  parallel_for(shape[0] * c, threads, [&](std::ptrdiff_t i) {
    packet1d_signal(x + (i / c) * s[0] + (i % c) * s[1], s[2], n, levels, dst + i * n, sym);
  });
}

// x (B, C * 4^J, h, w) at element strides s[4] -> dst contiguous (B, C, h * 2^J, w * 2^J): the inverse of packet2d.
inline void ipacket2d(const float* x, const std::ptrdiff_t shape[4], const std::ptrdiff_t s[4], int levels,
                      float* dst, int threads, bool sym) {
  const std::ptrdiff_t c = signal_channels(shape[1], levels, 2), h = shape[2] << levels, w = shape[3] << levels;
  check_levels(h, levels, "H");
  check_levels(w, levels, "W");
  const std::ptrdiff_t sc = s[1] << (2 * levels);  // from one signal channel's bands to the next
  parallel_for(shape[0] * c, threads, [&](std::ptrdiff_t i) {
    ipacket2d_plane(x + (i / c) * s[0] + (i % c) * sc, s[1], s[2], s[3], h, w, levels, dst + i * h * w, sym);
  });
}

// x (B, C * 2^J, l) at element strides s[3] -> dst contiguous (B, C, l * 2^J): the inverse of packet1d.
inline void ipacket1d(const float* x, const std::ptrdiff_t shape[3], const std::ptrdiff_t s[3], int levels,
                      float* dst, int threads, bool sym) {
  const std::ptrdiff_t c = signal_channels(shape[1], levels, 1), n = shape[2] << levels;
  check_levels(n, levels, "L");
  const std::ptrdiff_t sc = s[1] << levels;
  parallel_for(shape[0] * c, threads, [&](std::ptrdiff_t i) {
    ipacket1d_signal(x + (i / c) * s[0] + (i % c) * sc, s[1], s[2], n, levels, dst + i * n, sym);
  });
}

// x (B, C, H, W) samples T at strides s[4], w (K, C * 4^J) row-major, bias (K) -> z (B, K, H / 2^J, W / 2^J).
template <class T>
inline void encode2d(const T* x, const std::ptrdiff_t shape[4], const std::ptrdiff_t s[4], int levels,
                     const float* w, const float* bias, std::ptrdiff_t k, float* z, int threads, bool sym) {
  const std::ptrdiff_t c = shape[1], h = shape[2], wd = shape[3];
  check_levels(h, levels, "H");
  check_levels(wd, levels, "W");
  const std::ptrdiff_t q = std::ptrdiff_t(1) << (2 * levels);
  encode(shape[0], c, q, h * wd / q, w, bias, k, z, threads, [&](std::ptrdiff_t i, float* coeff) {
    packet2d_plane(x + (i / c) * s[0] + (i % c) * s[1], s[2], s[3], h, wd, levels, coeff, sym);
  });
}

// x (B, C, L) samples T at strides s[3], w (K, C * 2^J) row-major, bias (K) -> z (B, K, L / 2^J).
template <class T>
inline void encode1d(const T* x, const std::ptrdiff_t shape[3], const std::ptrdiff_t s[3], int levels,
                     const float* w, const float* bias, std::ptrdiff_t k, float* z, int threads, bool sym) {
  const std::ptrdiff_t c = shape[1], len = shape[2];
  check_levels(len, levels, "L");
  const std::ptrdiff_t q = std::ptrdiff_t(1) << levels;
  encode(shape[0], c, q, len / q, w, bias, k, z, threads, [&](std::ptrdiff_t i, float* coeff) {
    packet1d_signal(x + (i / c) * s[0] + (i % c) * s[1], s[2], len, levels, coeff, sym);
  });
}

}  // namespace wpacket
