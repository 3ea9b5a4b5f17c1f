// walloc rANS core: the coding arithmetic shared by the CPU extension and the CUDA kernels.
//
// Everything in this header is plain C++ usable from host code and (through WR_HD) from CUDA
// device code, so the CPU and GPU coders run literally the same functions and produce
// bit-identical streams.
//
// Coder: interleaved rANS with L independent 64-bit states ("lanes") sharing one stream of
// 32-bit words.  State invariant x in [2^31, 2^63); 32-bit renormalization; model precision
// p <= 16, so the state is always >= 2^15 * M and the arithmetic loss of rANS is negligible.
//
// Symbol i of the flattened (C, count) input (row-major) is coded by lane i % L with the table
// of its row, or with a table chosen per symbol by the causal context model (ContextModel,
// below; the decoder computes the same choice from the symbols it has decoded).  The encoder walks the symbols backwards and writes words backwards; the decoder
// walks forwards and reads forwards, so the stream is a single contiguous array of words.
//
// Escapes: a symbol outside [0, K) or with zero frequency cannot be coded with the table.
// When (and only when) a stream contains such symbols, the stream's escape flag is set and each
// row's table is altered by stealing one unit of frequency from its most probable symbol j
// (ties: lowest index); that unit becomes an escape symbol occupying the top slot of j's range.
// An escaped value v is then coded as: escape symbol, 6 raw bits n = bitlength(zigzag(v)),
// and the n raw bits of zigzag(v) (as at most two <= 16-bit pieces).  Streams without escapes
// use the tables exactly as given, so their cost is the ideal information content plus the
// small, fixed per-stream overhead (header + 8 bytes per lane).
//
// Stream layout (every multi-byte word little-endian, read and written byte by byte whatever the
// host's byte order: load_u32le / store_u32le):
//   byte 0       : 0xA0 | (FORMAT_VERSION << 1) | escape_flag
//   varint       : L, number of lanes (0 iff the stream holds no symbols, else 1..32)
//   varint       : T, total number of symbols (C * count)
//   u32[2L]      : initial decoder states, lane j = word[2j] | word[2j+1] << 32
//   u32[...]     : renormalization words, in decoding order
// The decoder checks that every read is in bounds, that every lane ends in the encoder's
// initial state 2^31 and that the words are consumed exactly.

#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define WR_HD __host__ __device__ __forceinline__
#else
#define WR_HD inline __attribute__((always_inline))
#endif

namespace wrans {

constexpr uint64_t RANS_L = 1ull << 31;      // lower bound of the state interval
constexpr int MAX_PRECISION = 16;
constexpr int MAX_LANES = 32;
constexpr int MAX_SYMBOLS = 65535;           // K, so that symbol indices (and the escape) fit u16
// Tables (rows of cdfs) per table set: a row index fits u16 (the context model's per-symbol rows),
// and the decoder's lookup tables (rows x 2^min(prec, COARSE_BITS) u16) stay within 128 MiB.
constexpr int MAX_TABLES = 1 << 16;
constexpr int FORMAT_VERSION = 1;
constexpr uint8_t MAGIC_MASK = 0xF8;          // high bits of byte 0
constexpr uint8_t MAGIC = 0xA0 | (FORMAT_VERSION << 1);
constexpr int ESC_LEN_BITS = 6;               // raw bits coding the escaped value's bit length
constexpr uint32_t COST_FRAC_BITS = 4;        // cost units: 1/16 bit
constexpr uint32_t ESC_COST_BITS = 48;        // nominal cost of an escape, for the lane choice
// The encoder uses at most one lane per this many bits of estimated payload, so that the
// 64-bit state flush of each lane costs <= 1/2048 of the payload (0.05%).
constexpr uint64_t BITS_PER_LANE = 1ull << 17;
constexpr int MAX_HEADER_BYTES = 1 + 2 + 10;
// Slot buckets per table of the coarse lookup: small enough to stay in cache with many tables
// (the context model has channels x buckets of them), fine enough that the scan is ~1 step.
constexpr int COARSE_BITS = 10;

enum Status : int {
  OK = 0,
  ERR_HEADER = 1,       // bad magic / version / varint / lane count
  ERR_COUNT = 2,        // header symbol count disagrees with the request
  ERR_TRUNCATED = 3,    // a read ran past the end of the stream
  ERR_TRAILING = 4,     // words left over after the last symbol, or length not word-aligned
  ERR_STATE = 5,        // a state outside its interval or not back at its initial value
  ERR_ESCAPE = 6,       // malformed escape (bad length, non-canonical value)
  ERR_NO_ESCAPE = 7,    // encoder: an escape is needed in a row whose table cannot host one
  ERR_INTERNAL = 8,     // encoder: output capacity exceeded (cannot happen with the bound)
  ERR_RANGE = 9,        // encoder: a context-model residual does not fit int32
};

WR_HD const char* status_message(int s) {
  switch (s) {
    case OK: return "ok";
    case ERR_HEADER: return "corrupt stream: bad header";
    case ERR_COUNT: return "stream holds a different number of symbols than requested";
    case ERR_TRUNCATED: return "corrupt or truncated stream: read past the end of the data";
    case ERR_TRAILING: return "corrupt or extended stream: unused data after the last symbol";
    case ERR_STATE: return "corrupt stream: coder state check failed";
    case ERR_ESCAPE: return "corrupt stream: malformed escaped value";
    case ERR_NO_ESCAPE:
      return "a symbol needs the escape path but its table has no symbol with frequency >= 2";
    case ERR_INTERNAL: return "internal error: output buffer bound exceeded";
    case ERR_RANGE: return "a symbol's residual from its prediction does not fit int32";
    default: return "unknown error";
  }
}

// Encoder entry for one symbol of one table.  q = x / freq is computed as
// mulhi64(2x, rcp) >> shift with rcp = ceil(2^(63+l) / freq), l = ceil(log2 freq), which is
// exact for all x < 2^63 (the error term x * (rcp*freq - 2^(63+l)) / 2^(63+l) < 1/freq).
struct EncSym {
  uint64_t rcp;
  uint32_t freq;   // 0: not codable (escape)
  uint16_t start;  // cumulative frequency (< 2^16 whenever freq >= 1)
  uint8_t shift;
  uint8_t pad;
};

struct DecSym {
  uint32_t freq;
  uint32_t start;
};

// Read-only view of the tables of one variant (0: as given, 1: with escape slots).
struct TableView {
  int C;
  int K;
  int prec;
  const uint32_t* cdf;   // C x (K+1), the tables as given
  const uint32_t* cost;  // C x K, -log2(freq / M) in 1/16 bits (base tables)
  const int32_t* steal;  // C, symbol hosting the escape slot, -1 if none (variant 1 only)
  const EncSym* enc;     // C x (K+1); entry K is the escape (variant 1)
  const DecSym* dec;     // C x (K+1)
  const uint16_t* lut;   // C x 2^prec slot -> symbol (K = escape), or null: see coarse
  const uint16_t* coarse;  // C x 2^min(prec, COARSE_BITS): symbol of each slot bucket's first
                           // slot, where a short scan starts (used when lut is null)
};

// ---------------------------------------------------------------------------------------------
// small helpers

WR_HD uint64_t mulhi64(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(a, b);
#else
  return (uint64_t)(((unsigned __int128)a * b) >> 64);
#endif
}

// The format's words are little-endian: assembled from bytes, so a big-endian host reads the same
// values (compilers turn this into one load on little-endian hosts).
WR_HD uint32_t load_u32le(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

WR_HD void store_u32le(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

WR_HD int bit_length32(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return 32 - __clz(v);
#else
  return v ? 32 - __builtin_clz(v) : 0;
#endif
}

WR_HD int clz64(uint64_t v) {  // v > 0
#if defined(__CUDA_ARCH__)
  return __clzll((long long)v);
#else
  return __builtin_clzll(v);
#endif
}

WR_HD uint32_t zigzag(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
WR_HD int32_t unzigzag(uint32_t u) { return (int32_t)((u >> 1) ^ (0u - (u & 1u))); }

// floor(16 * log2(f)) for f >= 1, integer-only so every build computes the same lane counts.
WR_HD uint32_t log2_q4(uint32_t f) {
  int e = bit_length32(f) - 1;
  uint64_t m = ((uint64_t)f << 30) >> e;  // mantissa in [2^30, 2^31), 30 fractional bits
  uint32_t r = (uint32_t)e << 4;
  for (int b = 3; b >= 0; --b) {
    m = (m * m) >> 30;
    if (m >= (1ull << 31)) {
      m >>= 1;
      r |= 1u << b;
    }
  }
  return r;
}

WR_HD int varint_put(uint8_t* d, uint64_t v) {
  int n = 0;
  while (v >= 0x80) {
    d[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  d[n++] = (uint8_t)v;
  return n;
}

WR_HD bool varint_get(const uint8_t* d, size_t len, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (*pos >= len) return false;
    uint8_t b = d[(*pos)++];
    if (i == 9 && b > 1) return false;  // > 64 bits
    v |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return false;  // non-minimal encoding
      *out = v;
      return true;
    }
  }
  return false;
}

struct Header {
  int lanes;
  bool escape;
  uint64_t total;
  size_t bytes;  // header length
};

WR_HD int write_header(uint8_t* d, int lanes, bool escape, uint64_t total) {
  int n = 0;
  d[n++] = (uint8_t)(MAGIC | (escape ? 1 : 0));
  n += varint_put(d + n, (uint64_t)lanes);
  n += varint_put(d + n, total);
  return n;
}

WR_HD int parse_header(const uint8_t* d, size_t len, Header* h) {
  if (len < 1 || (d[0] & 0xFE) != MAGIC) return ERR_HEADER;
  h->escape = (d[0] & 1) != 0;
  size_t pos = 1;
  uint64_t lanes = 0, total = 0;
  if (!varint_get(d, len, &pos, &lanes)) return ERR_HEADER;
  if (!varint_get(d, len, &pos, &total)) return ERR_HEADER;
  if (lanes > (uint64_t)MAX_LANES) return ERR_HEADER;
  if ((lanes == 0) != (total == 0)) return ERR_HEADER;
  h->lanes = (int)lanes;
  h->total = total;
  h->bytes = pos;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// encoder

WR_HD bool is_escape(const EncSym* row, int K, int32_t s) {
  return (uint32_t)s >= (uint32_t)K || row[s].freq == 0;
}

struct PrepassResult {
  uint64_t escapes;
  uint64_t cost;  // 1/16 bits
};

// Table row of symbol n of input row c: row c, or rows[c * count + n] when the caller chose a
// table per symbol (the context model below).
WR_HD int table_of(const uint16_t* rows, int c, uint64_t count, uint64_t n) {
  return rows ? (int)rows[(uint64_t)c * count + n] : c;
}

// Counts escapes and estimates the payload size of one chunk (symbols: channels x count,
// row-major; channels = base.C unless rows gives a table per symbol).
WR_HD PrepassResult encode_prepass(const int32_t* sym, uint64_t count, const TableView& base,
                                   const uint16_t* rows = nullptr, int channels = -1) {
  PrepassResult r = {0, 0};
  const int K = base.K;
  const int C = rows ? channels : base.C;
  for (int c = 0; c < C; ++c) {
    const int32_t* row = sym + (uint64_t)c * count;
    for (uint64_t n = 0; n < count; ++n) {
      const int t = table_of(rows, c, count, n);
      int32_t s = row[n];
      if (is_escape(base.enc + (size_t)t * (K + 1), K, s)) {
        r.escapes++;
        r.cost += (uint64_t)ESC_COST_BITS << COST_FRAC_BITS;
      } else {
        r.cost += base.cost[(size_t)t * K + s];
      }
    }
  }
  return r;
}

WR_HD int choose_lanes(uint64_t total, uint64_t cost, int lanes_req) {
  if (total == 0) return 0;
  uint64_t by_size = (cost >> COST_FRAC_BITS) / BITS_PER_LANE;
  uint64_t l = by_size < (uint64_t)lanes_req ? by_size : (uint64_t)lanes_req;
  return l < 1 ? 1 : (int)l;
}

// Exact upper bound on the words written by encode_core: every coding operation emits at most
// one word, an escape is 4 operations, and the flush is 2 words per lane.
WR_HD uint64_t encode_capacity_words(uint64_t total, uint64_t escapes, int lanes) {
  return total + 3 * escapes + 2 * (uint64_t)lanes;
}

// One rANS encoding step with an arbitrary (freq, start) at precision p, renormalizing first.
// `buf` is written backwards from index *pos.
WR_HD void enc_put(uint64_t& x, uint32_t* buf, uint64_t& pos, const EncSym& e, int prec) {
  uint64_t x_max = (uint64_t)e.freq << (63 - prec);
  bool emit = x >= x_max;
  buf[pos - 1] = (uint32_t)x;  // pos >= 1 is guaranteed by the capacity bound
  pos -= emit ? 1 : 0;
  x = emit ? (x >> 32) : x;
  uint64_t q = mulhi64(x << 1, e.rcp) >> e.shift;
  x += e.start + q * (((uint64_t)1 << prec) - e.freq);
}

// Raw bits: freq 1, start v, precision nb (1..16).
WR_HD void enc_raw(uint64_t& x, uint32_t* buf, uint64_t& pos, uint32_t v, int nb) {
  uint64_t x_max = (uint64_t)1 << (63 - nb);
  bool emit = x >= x_max;
  buf[pos - 1] = (uint32_t)x;
  pos -= emit ? 1 : 0;
  x = emit ? (x >> 32) : x;
  x = (x << nb) | v;
}

// Encodes one escaped value v with lane state x (the value's pieces, then its length, then the
// escape symbol: the reverse of the decoding order).
WR_HD void enc_escape(uint64_t& x, uint32_t* buf, uint64_t& pos, const EncSym& esc, int prec,
                      int32_t v) {
  uint32_t u = zigzag(v);
  int nb = bit_length32(u);
  if (nb > 16) {
    enc_raw(x, buf, pos, u & 0xFFFF, 16);
    enc_raw(x, buf, pos, u >> 16, nb - 16);
  } else if (nb > 0) {
    enc_raw(x, buf, pos, u, nb);
  }
  enc_raw(x, buf, pos, (uint32_t)nb, ESC_LEN_BITS);
  enc_put(x, buf, pos, esc, prec);
}

// Encodes one chunk (symbols: channels x count, row-major; rows as in encode_prepass).  `tv`
// must be the variant matching `escape`, and `escapes` the prepass count; cap must be >=
// encode_capacity_words(...).  The words (without header) are written backwards ending at
// buf[cap]; on success *used is their number and they occupy buf[cap - *used, cap).
WR_HD int encode_core(const int32_t* sym, uint64_t count, const TableView& tv, int lanes,
                      bool escape, uint64_t escapes, uint32_t* buf, uint64_t cap,
                      uint64_t* used, const uint16_t* rows = nullptr, int channels = -1) {
  const int C = rows ? channels : tv.C, K = tv.K, prec = tv.prec;
  const uint64_t total = (uint64_t)C * count;
  *used = 0;
  if (total == 0) return OK;
  if (lanes < 1 || lanes > MAX_LANES) return ERR_INTERNAL;
  if (cap < encode_capacity_words(total, escapes, lanes)) return ERR_INTERNAL;
  uint64_t x[MAX_LANES];
  for (int j = 0; j < lanes; ++j) x[j] = RANS_L;
  uint64_t pos = cap;
  uint64_t seen_escapes = 0;
  int j = (int)((total - 1) % (uint64_t)lanes);
  for (int c = C - 1; c >= 0; --c) {
    const int32_t* row = sym + (uint64_t)c * count;
    for (uint64_t n = count; n-- > 0;) {
      const EncSym* e = tv.enc + (size_t)table_of(rows, c, count, n) * (K + 1);
      int32_t s = row[n];
      uint64_t xs = x[j];
      if (is_escape(e, K, s)) {
        // the capacity bound holds only for the escapes the prepass counted
        if (!escape || e[K].freq == 0) return ERR_NO_ESCAPE;
        if (++seen_escapes > escapes) return ERR_INTERNAL;
        enc_escape(xs, buf, pos, e[K], prec, s);
      } else {
        enc_put(xs, buf, pos, e[s], prec);
      }
      x[j] = xs;
      j = (j == 0) ? lanes - 1 : j - 1;
    }
  }
  if (pos < 2 * (uint64_t)lanes) return ERR_INTERNAL;
  for (int l = lanes - 1; l >= 0; --l) {
    buf[--pos] = (uint32_t)(x[l] >> 32);
    buf[--pos] = (uint32_t)x[l];
  }
  *used = cap - pos;
  return OK;
}

// ---------------------------------------------------------------------------------------------
// decoder

struct Reader {
  const uint8_t* data;
  size_t len;  // end of the data (the payload after the header is a multiple of 4 bytes)
  size_t pos;  // may run past len in the unchecked fast path; checked after each run
};

// Checked renormalization (slow path).
WR_HD bool dec_renorm_checked(uint64_t& x, Reader& r) {
  if (x < RANS_L) {
    if (r.pos >= r.len) return false;
    x = (x << 32) | load_u32le(r.data + r.pos);
    r.pos += 4;
  }
  return true;
}

WR_HD uint32_t lookup_symbol(const TableView& tv, int c, uint32_t slot) {
  if (tv.lut) return tv.lut[((size_t)c << tv.prec) + slot];
  // the symbol s with cdf[s] <= slot < cdf[s + 1] (zero-frequency symbols are skipped), found by
  // scanning up from the symbol of the slot's coarse bucket
  const uint32_t* cdf = tv.cdf + (size_t)c * (tv.K + 1);
  const int cb = tv.prec < COARSE_BITS ? tv.prec : COARSE_BITS;
  uint32_t lo = tv.coarse[((size_t)c << cb) + (slot >> (tv.prec - cb))];
  while (cdf[lo + 1] <= slot) ++lo;  // ends by cdf[K] = 2^prec > slot
  if (tv.steal && tv.steal[c] == (int32_t)lo && slot + 1 == cdf[lo + 1]) return (uint32_t)tv.K;
  return lo;
}

// Decodes the payload of an escaped value.  On entry the state has been advanced past the
// escape symbol but not yet renormalized.  Returns a Status.
WR_HD int dec_escape(uint64_t& x, Reader& r, const uint32_t* cdf_row, int K, int32_t* out) {
  if (!dec_renorm_checked(x, r)) return ERR_TRUNCATED;
  uint32_t nb = (uint32_t)(x & ((1u << ESC_LEN_BITS) - 1));
  x >>= ESC_LEN_BITS;
  if (!dec_renorm_checked(x, r)) return ERR_TRUNCATED;
  if (nb > 32) return ERR_ESCAPE;
  uint32_t u = 0;
  if (nb > 16) {
    uint32_t hb = nb - 16;
    uint32_t hi = (uint32_t)(x & ((1u << hb) - 1));
    x >>= hb;
    if (!dec_renorm_checked(x, r)) return ERR_TRUNCATED;
    uint32_t lo = (uint32_t)(x & 0xFFFF);
    x >>= 16;
    if (!dec_renorm_checked(x, r)) return ERR_TRUNCATED;
    u = (hi << 16) | lo;
  } else if (nb > 0) {
    u = (uint32_t)(x & ((1u << nb) - 1));
    x >>= nb;
    if (!dec_renorm_checked(x, r)) return ERR_TRUNCATED;
  }
  if ((uint32_t)bit_length32(u) != nb) return ERR_ESCAPE;  // non-canonical length
  int32_t v = unzigzag(u);
  if ((uint32_t)v < (uint32_t)K && cdf_row[v + 1] != cdf_row[v]) return ERR_ESCAPE;  // codable
  *out = v;
  return OK;
}

// How the decoder picks each symbol's table and turns the decoded symbol into the output value.
// The plain model: input row c uses table c and symbols are stored as decoded.
struct PlainModel {
  int c = 0;
  WR_HD void start_channel(int channel, const int32_t*) { c = channel; }
  WR_HD int table() { return c; }
  WR_HD int32_t value(int32_t s) const { return s; }
};

// The causal context model (walloc streams with coder id 3).  A chunk's symbols are latent
// planes (channels x rows x width, row-major) coded channel by channel in raster order, so when
// a symbol is coded its left, top-left, top and top-right neighbours in its plane are known
// (zero outside the chunk, which keeps chunks independent).  Each channel has a mode:
//   0: the value itself, with a table chosen by the neighbours' magnitude 2|L| + 2|T| + |TL| + |TR|;
//   1: the residual from the median predictor med(L, T, L + T - TL) (LOCO-I), and
//   2: the residual from the average (L + T + 1) >> 1, both with a table chosen by the local
//      gradient |L - TL| + |T - TL| + |T - TR|.
// The activity a picks bucket min(buckets - 1, floor(2 log2(1 + a))) of the channel's tables:
// table row = channel * buckets + bucket.  Stored symbols are value + offset; a coded symbol is
// residual + roff.  The encoder and decoder share this struct, so their contexts agree by
// construction.  Calls to table() must visit a plane's positions in order.
struct ContextModel {
  int buckets = 1;
  int32_t offset = 0, roff = 0;
  uint64_t width = 1;
  const uint8_t* modes = nullptr;
  // position state
  const int32_t* p = nullptr;
  int c = 0, mode = 0;
  uint64_t n = 0, x = 0;
  int64_t pred = 0;

  WR_HD void start_channel(int channel, const int32_t* plane) {
    c = channel;
    p = plane;
    mode = modes[channel];
    n = 0;
    x = 0;
  }
  WR_HD int64_t at(uint64_t i) const { return (int64_t)p[i] - offset; }
  WR_HD static int64_t mag(int64_t v) { return v < 0 ? -v : v; }
  WR_HD int table() {
    const bool left = x > 0, top = n >= width, right = x + 1 < width;
    const int64_t L = left ? at(n - 1) : 0, T = top ? at(n - width) : 0;
    const int64_t TL = left && top ? at(n - width - 1) : 0;
    const int64_t TR = right && top ? at(n - width + 1) : 0;
    int64_t act;
    if (mode == 0) {
      pred = 0;
      act = 2 * mag(L) + 2 * mag(T) + mag(TL) + mag(TR);
    } else {
      if (mode == 1) {
        const int64_t hi = L > T ? L : T, lo = L > T ? T : L;
        pred = TL >= hi ? lo : (TL <= lo ? hi : L + T - TL);
      } else {
        pred = (L + T + 1) >> 1;
      }
      act = mag(L - TL) + mag(T - TL) + mag(T - TR);
    }
    if (act > (1 << 24)) act = 1 << 24;
    const uint64_t u = (uint64_t)act + 1;
    int b = 63 - clz64(u * u);  // floor(2 log2(1 + act))
    if (b >= buckets) b = buckets - 1;
    ++n;
    x = (x + 1 == width) ? 0 : x + 1;
    return c * buckets + b;
  }
  // Decoded symbol -> stored value + offset (wrapping, never overflowing, on corrupt input).
  WR_HD int32_t value(int32_t s) const {
    return (int32_t)(uint32_t)((uint64_t)((int64_t)s - roff + pred + offset));
  }
  // Encoder side: stored symbol -> coded symbol; false when it does not fit int32.
  WR_HD bool coded(int32_t s, int32_t* out) const {
    const int64_t v = (int64_t)s - offset - pred + roff;
    if (v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
  }
};

// Encoder side of the context model: the table row and coded symbol of every symbol of a chunk
// (channels x count).  Returns a Status.
WR_HD int context_prepare(const int32_t* sym, int channels, uint64_t count, ContextModel m,
                          uint16_t* rows, int32_t* coded) {
  for (int c = 0; c < channels; ++c) {
    m.start_channel(c, sym + (uint64_t)c * count);
    for (uint64_t n = 0; n < count; ++n) {
      const uint64_t i = (uint64_t)c * count + n;
      rows[i] = (uint16_t)m.table();  // < MAX_TABLES: the callers check channels x buckets
      if (!m.coded(sym[i], &coded[i])) return ERR_RANGE;
    }
  }
  return OK;
}

// Decodes the rows of one stream after its header and initial states (see decode_core).
template <bool kLut, class Model>
WR_HD int decode_rows(const TableView& tv, int channels, uint64_t count, int lanes, uint64_t* x,
                      Reader& r, int32_t* out, Model& model) {
  const int K = tv.K, prec = tv.prec;
  const uint8_t* data = r.data;
  const uint8_t zero[4] = {0, 0, 0, 0};
  const uint64_t mask = ((uint64_t)1 << prec) - 1;
  int j = 0;
  for (int c = 0; c < channels; ++c) {
    int32_t* o = out + (uint64_t)c * count;
    model.start_channel(c, o);
    uint64_t n = 0;
    while (n < count) {
      uint64_t run = count - n;
      if (run > (uint64_t)(lanes - j)) run = (uint64_t)(lanes - j);
      for (uint64_t k = 0; k < run; ++k) {
        const int t = model.table();
        const DecSym* ds = tv.dec + (size_t)t * (K + 1);
        uint64_t xs = x[j + k];
        const uint32_t slot = (uint32_t)(xs & mask);
        const uint32_t s = kLut ? (uint32_t)tv.lut[((size_t)t << prec) + slot]
                                : lookup_symbol(tv, t, slot);
        const DecSym d = ds[s];
        xs = (uint64_t)d.freq * (xs >> prec) + slot - d.start;
        if (s >= (uint32_t)K) {  // escape (only present in escape streams)
          int32_t v;
          int e = dec_escape(xs, r, tv.cdf + (size_t)t * (K + 1), K, &v);
          if (e != OK) return e;
          x[j + k] = xs;
          o[n + k] = model.value(v);
          continue;
        }
        // branchless guarded renormalization: reads a zero word past the end (never the
        // memory after the buffer); overruns are detected after the run.
        const bool need = xs < RANS_L;
        const uint8_t* src = (r.pos < r.len) ? data + r.pos : zero;
        const uint64_t w = load_u32le(src);
        xs = need ? ((xs << 32) | w) : xs;
        r.pos += need ? 4 : 0;
        x[j + k] = xs;
        o[n + k] = model.value((int32_t)s);
      }
      if (r.pos > r.len) return ERR_TRUNCATED;
      n += run;
      j += (int)run;
      if (j == lanes) j = 0;
    }
  }
  return OK;
}

// Decodes one chunk of `channels` rows into out (channels x count, row-major), with the table
// choice of `model`.  v0 / v1: the table variants without / with escape slots; only the one the
// header asks for is used (the caller builds it).
template <class Model>
WR_HD int decode_with(const uint8_t* data, size_t len, const TableView& v0, const TableView& v1,
                      int channels, uint64_t count, int32_t* out, Model& model) {
  Header h;
  int st = parse_header(data, len, &h);
  if (st != OK) return st;
  const TableView& tv = h.escape ? v1 : v0;
  const uint64_t total = (uint64_t)channels * count;
  if (h.total != total) return ERR_COUNT;
  if ((len - h.bytes) % 4 != 0) return ERR_TRAILING;
  const int lanes = h.lanes;
  if (total == 0) return len == h.bytes ? OK : ERR_TRAILING;
  Reader r = {data, len, h.bytes};
  if (len - h.bytes < 8 * (size_t)lanes) return ERR_TRUNCATED;
  uint64_t x[MAX_LANES];
  for (int j = 0; j < lanes; ++j) {
    uint64_t lo = load_u32le(data + r.pos), hi = load_u32le(data + r.pos + 4);
    r.pos += 8;
    x[j] = lo | (hi << 32);
    if (x[j] < RANS_L || x[j] >= (1ull << 63)) return ERR_STATE;
  }
  st = tv.lut ? decode_rows<true>(tv, channels, count, lanes, x, r, out, model)
              : decode_rows<false>(tv, channels, count, lanes, x, r, out, model);
  if (st != OK) return st;
  if (r.pos != r.len) return ERR_TRAILING;
  for (int l = 0; l < lanes; ++l)
    if (x[l] != RANS_L) return ERR_STATE;
  return OK;
}

// Decodes one chunk of the plain model (row c with table c) into out (C x count).
WR_HD int decode_core(const uint8_t* data, size_t len, const TableView& v0, const TableView& v1,
                      uint64_t count, int32_t* out) {
  PlainModel model;
  return decode_with(data, len, v0, v1, v0.C, count, out, model);
}

}  // namespace wrans
