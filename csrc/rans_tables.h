// Host-side construction and validation of the coding tables (shared by the CPU extension and
// the host part of the CUDA coder).
#pragma once

#include <stdint.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "rans_core.h"

namespace wrans {

struct Tables {
  int C = 0, K = 0, prec = 0;
  std::vector<uint32_t> cdf;    // C x (K+1)
  std::vector<uint32_t> cost;   // C x K
  std::vector<int32_t> steal;   // C
  std::vector<EncSym> enc[2];   // per variant, C x (K+1)
  std::vector<DecSym> dec[2];   // per variant, C x (K+1)
  std::vector<uint16_t> lut[2]; // per variant, C x 2^prec slot -> symbol (empty: see coarse)
  std::vector<uint16_t> coarse; // C x 2^min(prec, COARSE_BITS), both variants (see TableView)
  bool have_enc[2] = {false, false};
  bool have_dec[2] = {false, false};
  // Tables may be shared between calls (see the cache in rans_py.cpp): building is serialized,
  // and built arrays are never modified afterwards, so views stay valid for readers.
  std::mutex build_mutex;
  std::atomic<uint64_t> decoded_symbols{0};  // decides when a slot table pays off

  size_t memory_bytes() const {
    size_t b = cdf.size() * 4 + cost.size() * 4 + steal.size() * 4;
    for (int v = 0; v < 2; ++v)
      b += enc[v].size() * sizeof(EncSym) + dec[v].size() * sizeof(DecSym) + lut[v].size() * 2;
    return b + coarse.size() * 2;
  }

  // Validates and copies the tables; returns an error message or "".
  std::string load(const uint32_t* cdfs, int64_t rows, int64_t cols, int64_t precision) {
    if (precision < 0 || precision > MAX_PRECISION)
      return "precision must be in [0, " + std::to_string(MAX_PRECISION) + "], got " +
             std::to_string(precision);
    if (cols < 2)
      return "cdfs must have at least 2 columns (K + 1 with K >= 1), got " + std::to_string(cols);
    if (cols - 1 > MAX_SYMBOLS)
      return "at most " + std::to_string(MAX_SYMBOLS) + " symbols per table, got " +
             std::to_string(cols - 1);
    if (rows < 0 || rows > MAX_TABLES)
      return "at most " + std::to_string(MAX_TABLES) + " tables (cdfs rows), got " +
             std::to_string(rows);
    C = (int)rows;
    K = (int)(cols - 1);
    prec = (int)precision;
    const uint32_t M = 1u << prec;
    cdf.assign(cdfs, cdfs + (size_t)C * (K + 1));
    cost.assign((size_t)C * K, 0);
    steal.assign(C, -1);
    for (int c = 0; c < C; ++c) {
      const uint32_t* r = &cdf[(size_t)c * (K + 1)];
      if (r[0] != 0)
        return "cdfs[" + std::to_string(c) + ", 0] must be 0, got " + std::to_string(r[0]);
      if (r[K] != M)
        return "cdfs[" + std::to_string(c) + ", -1] must be 1 << precision = " +
               std::to_string(M) + ", got " + std::to_string(r[K]);
      uint32_t best = 0;
      for (int s = 0; s < K; ++s) {
        if (r[s + 1] < r[s])
          return "cdfs[" + std::to_string(c) + "] is not non-decreasing at index " +
                 std::to_string(s + 1);
        uint32_t f = r[s + 1] - r[s];
        if (f > best) {
          best = f;
          steal[c] = s;
        }
        cost[(size_t)c * K + s] =
            f ? ((uint32_t)prec << COST_FRAC_BITS) - log2_q4(f) : 0;
      }
      if (best < 2) steal[c] = -1;  // no room for an escape slot in this table
    }
    return "";
  }

  static EncSym make_enc(uint32_t freq, uint32_t start) {
    EncSym e{};
    e.freq = freq;
    e.start = (uint16_t)start;
    if (freq == 0) return e;
    int l = 0;
    while ((1u << l) < freq) ++l;  // l = ceil(log2 freq)
    unsigned __int128 num = (unsigned __int128)1 << (63 + l);
    e.rcp = (uint64_t)((num + freq - 1) / freq);
    e.shift = (uint8_t)l;
    return e;
  }

  void build_enc(int v) {
    std::lock_guard<std::mutex> lock(build_mutex);
    if (have_enc[v]) return;
    std::vector<EncSym>& t = enc[v];
    t.assign((size_t)C * (K + 1), EncSym{});
    for (int c = 0; c < C; ++c) {
      const uint32_t* r = &cdf[(size_t)c * (K + 1)];
      EncSym* e = &t[(size_t)c * (K + 1)];
      for (int s = 0; s < K; ++s) e[s] = make_enc(r[s + 1] - r[s], r[s]);
      if (v == 1 && steal[c] >= 0) {
        int j = steal[c];
        uint32_t f = r[j + 1] - r[j];
        e[j] = make_enc(f - 1, r[j]);
        e[K] = make_enc(1, r[j + 1] - 1);
      }
    }
    have_enc[v] = true;
  }

  void build_dec(int v, bool use_lut) {
    std::lock_guard<std::mutex> lock(build_mutex);
    if (!have_dec[v]) {
      std::vector<DecSym>& t = dec[v];
      t.assign((size_t)C * (K + 1), DecSym{0, 0});
      for (int c = 0; c < C; ++c) {
        const uint32_t* r = &cdf[(size_t)c * (K + 1)];
        DecSym* d = &t[(size_t)c * (K + 1)];
        for (int s = 0; s < K; ++s) d[s] = DecSym{r[s + 1] - r[s], r[s]};
        if (v == 1 && steal[c] >= 0) {
          int j = steal[c];
          d[j].freq -= 1;
          d[K] = DecSym{1, r[j + 1] - 1};
        }
      }
      have_dec[v] = true;
    }
    if (!use_lut && coarse.empty() && C > 0) {
      const int cb = prec < COARSE_BITS ? prec : COARSE_BITS;
      const size_t n = (size_t)1 << cb;
      std::vector<uint16_t> T((size_t)C * n);
      for (int c = 0; c < C; ++c) {
        const uint32_t* r = &cdf[(size_t)c * (K + 1)];
        uint32_t s = 0;
        for (size_t j = 0; j < n; ++j) {  // symbol holding the bucket's first slot
          const uint32_t slot = (uint32_t)(j << (prec - cb));
          while (r[s + 1] <= slot) ++s;
          T[(size_t)c * n + j] = (uint16_t)s;
        }
      }
      coarse.swap(T);
    }
    if (use_lut && lut[v].empty() && C > 0) {
      const size_t M = (size_t)1 << prec;
      std::vector<uint16_t> L((size_t)C * M);
      for (int c = 0; c < C; ++c) {
        const uint32_t* r = &cdf[(size_t)c * (K + 1)];
        uint16_t* row = &L[(size_t)c * M];
        for (int s = 0; s < K; ++s) std::fill(row + r[s], row + r[s + 1], (uint16_t)s);
        if (v == 1 && steal[c] >= 0) row[r[steal[c] + 1] - 1] = (uint16_t)K;  // escape slot
      }
      lut[v].swap(L);
    }
  }

  TableView view(int v) {
    std::lock_guard<std::mutex> lock(build_mutex);
    TableView tv;
    tv.C = C;
    tv.K = K;
    tv.prec = prec;
    tv.cdf = cdf.data();
    tv.cost = cost.data();
    tv.steal = v == 1 ? steal.data() : nullptr;
    tv.enc = enc[v].data();
    tv.dec = dec[v].data();
    tv.lut = lut[v].empty() ? nullptr : lut[v].data();
    tv.coarse = coarse.empty() ? nullptr : coarse.data();
    return tv;
  }
};

// Whether full slot tables pay off, given `symbols` decoded with these tables so far (including
// the current call): they must fit in cache (at most 2 MB) and be used enough to repay their
// filling; otherwise decoding uses the coarse lookup.
inline bool lut_pays_off(const Tables& t, uint64_t symbols) {
  uint64_t entries = (uint64_t)t.C << t.prec;
  if (entries > (1u << 20)) return false;
  return t.prec <= 12 || entries <= 32 * symbols + 65536;  // fill ~0.6 ns/entry vs ~25 ns/symbol saved
}

}  // namespace wrans
