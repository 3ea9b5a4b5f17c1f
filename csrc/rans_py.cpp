// Python bindings of the walloc rANS coder: module walloc._rans.
//
// Arrays cross the boundary as numpy buffers; nothing here depends on torch.  All coding work
// runs with the GIL released; chunked calls run over std::threads.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rans_core.h"
#include "rans_tables.h"
#ifdef WALLOC_WITH_CUDA
#include "rans_cuda.h"
#endif

namespace py = pybind11;
using namespace wrans;

namespace {

constexpr uint64_t MAX_TOTAL_SYMBOLS = 1ull << 40;

using I32Array = py::array_t<int32_t, py::array::c_style>;
using U32Array = py::array_t<uint32_t, py::array::c_style>;

py::array as_integer_array(py::handle h, const std::string& what, int ndim) {
  py::array a = py::array::ensure(h);
  if (!a) throw py::type_error(what + " must be an integer numpy array");
  char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(what + " must have an integer dtype, got " +
                         std::string(py::str(a.dtype())));
  if (a.ndim() != ndim)
    throw py::value_error(what + " must be " + std::to_string(ndim) + "-D, got " +
                          std::to_string(a.ndim()) + "-D");
  return a;
}

// Integer array -> C-contiguous int32 (C, N); values outside int32 raise instead of wrapping.
I32Array as_symbols(py::handle h, const std::string& what) {
  py::array a = as_integer_array(h, what, 2);
  if (!a.dtype().is(py::dtype::of<int32_t>()) && a.size() > 0) {
    py::int_ lo = a.attr("min")(), hi = a.attr("max")();
    if (lo.cast<long long>() < INT32_MIN || hi.cast<long long>() > INT32_MAX)
      throw py::value_error(what + " has values outside the int32 range");
  }
  return I32Array::ensure(a.attr("astype")("int32", py::arg("copy") = false));
}

U32Array as_cdfs(py::handle h) {
  py::array a = as_integer_array(h, "cdfs", 2);
  if (!a.dtype().is(py::dtype::of<uint32_t>()) && a.size() > 0) {
    py::int_ lo = a.attr("min")(), hi = a.attr("max")();
    if (lo.cast<long long>() < 0 || hi.cast<long long>() > (long long)UINT32_MAX)
      throw py::value_error("cdfs has values outside [0, 2^32)");
  }
  return U32Array::ensure(a.attr("astype")("uint32", py::arg("copy") = false));
}

// Built tables are cached across calls (keyed by the exact table contents and precision), so
// that e.g. one decode call per image does not rebuild 2^precision-slot lookup tables each time.
class TableCache {
 public:
  std::shared_ptr<Tables> get(const U32Array& cdfs, int precision) {
    const int64_t rows = cdfs.shape(0), cols = cdfs.shape(1);
    const size_t n = (size_t)(rows * cols);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = items_.begin(); it != items_.end(); ++it) {
        Tables& t = **it;
        if (t.prec == precision && t.C == rows && t.K + 1 == cols &&
            (n == 0 || memcmp(t.cdf.data(), cdfs.data(), n * 4) == 0)) {
          auto hit = *it;
          items_.erase(it);
          items_.insert(items_.begin(), hit);
          return hit;
        }
      }
    }
    auto t = std::make_shared<Tables>();
    std::string err = t->load(cdfs.data(), rows, cols, precision);
    if (!err.empty()) throw py::value_error(err);
    std::lock_guard<std::mutex> lock(mutex_);
    items_.insert(items_.begin(), t);
    // evict least recently used entries beyond the limits (in-flight users keep theirs alive)
    size_t bytes = 0, keep = 0;
    for (; keep < items_.size(); ++keep) {
      bytes += items_[keep]->memory_bytes();
      if (keep >= 1 && (keep >= kMaxEntries || bytes > kMaxBytes)) break;
    }
    items_.resize(keep);
    return t;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.clear();
  }

 private:
  static constexpr size_t kMaxEntries = 8;
  static constexpr size_t kMaxBytes = 256u << 20;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Tables>> items_;
};

TableCache& table_cache() {
  static TableCache* cache = new TableCache();  // never destroyed: safe at interpreter exit
  return *cache;
}

std::shared_ptr<Tables> load_tables(const U32Array& cdfs, int precision) {
  return table_cache().get(cdfs, precision);
}

void check_lanes(int lanes) {
  if (lanes < 1 || lanes > MAX_LANES)
    throw py::value_error("lanes must be in [1, " + std::to_string(MAX_LANES) + "], got " +
                          std::to_string(lanes));
}

uint64_t checked_total(int C, int64_t count) {
  if (count < 0) throw py::value_error("count must be >= 0");
  if (C > 0 && (uint64_t)count > MAX_TOTAL_SYMBOLS / (uint64_t)C)
    throw py::value_error("count too large: " + std::to_string(count));
  return (uint64_t)C * (uint64_t)count;
}

// A read-only contiguous byte view of a bytes-like object, held for the call.
struct ByteView {
  Py_buffer view{};
  bool held = false;
  explicit ByteView(py::handle h) {
    if (PyObject_GetBuffer(h.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    held = true;
  }
  ByteView(const ByteView&) = delete;
  ByteView(ByteView&& o) noexcept : view(o.view), held(o.held) { o.held = false; }
  ~ByteView() {
    if (held) PyBuffer_Release(&view);
  }
  const uint8_t* data() const { return (const uint8_t*)view.buf; }
  size_t size() const { return (size_t)view.len; }
};

int resolve_threads(int threads, size_t items) {
  int n = threads > 0 ? threads : (int)std::thread::hardware_concurrency();
  if (n < 1) n = 1;
  if ((size_t)n > items) n = (int)items;
  return n < 1 ? 1 : n;
}

template <class F>
void parallel_for(size_t items, int threads, F&& fn) {
  int n = resolve_threads(threads, items);
  if (n <= 1) {
    for (size_t i = 0; i < items; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i = next++; i < items; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (int k = 0; k < n - 1; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

// One encoded chunk before it becomes a bytes object.
struct EncodedChunk {
  int status = OK;
  uint8_t header[MAX_HEADER_BYTES];
  int header_len = 0;
  std::unique_ptr<uint32_t[]> words;  // the words live at words[cap - used, cap)
  uint64_t cap = 0, used = 0;
  PrepassResult pre{0, 0};

  py::bytes to_bytes() const {
    size_t n = (size_t)header_len + 4 * (size_t)used;
    PyObject* b = PyBytes_FromStringAndSize(nullptr, (Py_ssize_t)n);
    if (!b) throw py::error_already_set();
    char* d = PyBytes_AS_STRING(b);
    memcpy(d, header, header_len);
    const uint32_t* w = words.get() + (cap - used);
    uint8_t* o = (uint8_t*)d + header_len;
    for (uint64_t k = 0; k < used; ++k) store_u32le(o + 4 * k, w[k]);
    return py::reinterpret_steal<py::bytes>(b);
  }
};

void encode_chunk(const int32_t* sym, uint64_t count, Tables& t, int lanes_req,
                  EncodedChunk& out, const uint16_t* rows, int channels) {
  const uint64_t total = (uint64_t)channels * count;
  const bool esc = out.pre.escapes > 0;
  const int lanes = choose_lanes(total, out.pre.cost, lanes_req);
  out.header_len = write_header(out.header, lanes, esc, total);
  out.cap = encode_capacity_words(total, out.pre.escapes, lanes);
  out.words.reset(new uint32_t[out.cap ? out.cap : 1]);  // uninitialised: touched as written
  out.status = encode_core(sym, count, t.view(esc ? 1 : 0), lanes, esc, out.pre.escapes,
                           out.words.get(), out.cap, &out.used, rows, channels);
}

// The context model's parameters as given from Python, checked as both the encoder and the
// decoder need them: one check, so no stream is written that its decoder refuses.
struct ContextArgs {
  std::vector<uint8_t> modes;
  int buckets = 1;
  int32_t offset = 0, roff = 0;
  int64_t width = 0;  // 0: each chunk is one row

  int channels() const { return (int)modes.size(); }
  void check() const {
    if (buckets < 1 || buckets > 64)
      throw py::value_error("buckets must be in [1, 64], got " + std::to_string(buckets));
    if ((int64_t)modes.size() * buckets > MAX_TABLES)
      throw py::value_error("the context model has " + std::to_string(modes.size()) +
                            " channels x " + std::to_string(buckets) + " buckets = " +
                            std::to_string(modes.size() * buckets) + " tables, more than " +
                            std::to_string(MAX_TABLES));
    if (width < 0) throw py::value_error("width must be >= 0, got " + std::to_string(width));
  }
  void check_tables(const Tables& t) const {
    if ((int64_t)modes.size() * buckets != t.C)
      throw py::value_error("cdfs must have channels x buckets = " +
                            std::to_string(modes.size() * buckets) + " rows, got " +
                            std::to_string(t.C));
  }
  ContextModel model(uint64_t count) const {
    if (width > 0 && count % (uint64_t)width)
      throw py::value_error("chunk length " + std::to_string(count) +
                            " is not a whole number of rows of width " + std::to_string(width));
    ContextModel m;
    m.buckets = buckets;
    m.offset = offset;
    m.roff = roff;
    m.width = width > 0 ? (uint64_t)width : (count ? count : 1);
    m.modes = modes.data();
    return m;
  }
};

[[noreturn]] void raise_status(int status, long chunk) {
  std::string msg = status_message(status);
  if (chunk >= 0) msg = "chunk " + std::to_string(chunk) + ": " + msg;
  throw py::value_error(msg);
}

// ---------------------------------------------------------------------------------------------

// Encodes independent chunks; with `ctx`, each symbol's table comes from the context model.
py::list encode_chunks_impl(const std::vector<I32Array>& chunks, Tables& t, int lanes,
                            int threads, const ContextArgs* ctx = nullptr) {
  check_lanes(lanes);
  const int channels = ctx ? ctx->channels() : t.C;
  const size_t n = chunks.size();
  std::vector<const int32_t*> ptrs(n);
  std::vector<uint64_t> counts(n);
  std::vector<ContextModel> models;
  for (size_t i = 0; i < n; ++i) {
    if (chunks[i].shape(0) != channels)
      throw py::value_error("chunk " + std::to_string(i) + ": symbols have " +
                            std::to_string(chunks[i].shape(0)) + " rows but the tables code " +
                            std::to_string(channels));
    counts[i] = (uint64_t)chunks[i].shape(1);
    checked_total(channels, (int64_t)counts[i]);
    ptrs[i] = chunks[i].data();
    if (ctx) models.push_back(ctx->model(counts[i]));
  }
  std::vector<EncodedChunk> out(n);
  // context model: per-symbol table rows and coded symbols, made per chunk
  std::vector<std::vector<uint16_t>> rows(ctx ? n : 0);
  std::vector<std::vector<int32_t>> coded(ctx ? n : 0);
  {
    py::gil_scoped_release nogil;
    t.build_enc(0);
    TableView base = t.view(0);
    parallel_for(n, threads, [&](size_t i) {
      if (ctx) {
        rows[i].resize(channels * counts[i]);
        coded[i].resize(channels * counts[i]);
        out[i].status = context_prepare(ptrs[i], channels, counts[i], models[i], rows[i].data(),
                                        coded[i].data());
        ptrs[i] = coded[i].data();
      }
      if (out[i].status == OK)
        out[i].pre = encode_prepass(ptrs[i], counts[i], base, ctx ? rows[i].data() : nullptr, channels);
    });
    bool any_escape = false;
    for (auto& o : out) any_escape |= o.pre.escapes > 0;
    if (any_escape) t.build_enc(1);
    parallel_for(n, threads, [&](size_t i) {
      if (out[i].status == OK)
        encode_chunk(ptrs[i], counts[i], t, lanes, out[i], ctx ? rows[i].data() : nullptr, channels);
      if (ctx) {
        std::vector<uint16_t>().swap(rows[i]);
        std::vector<int32_t>().swap(coded[i]);
      }
    });
  }
  py::list result;
  for (size_t i = 0; i < n; ++i) {
    if (out[i].status != OK) raise_status(out[i].status, (long)i);
    result.append(out[i].to_bytes());
    out[i].words.reset();
  }
  return result;
}

std::vector<py::array> decode_chunks_impl(const std::vector<ByteView>& data, Tables& t,
                                          const std::vector<int64_t>& counts, int threads,
                                          bool single, const ContextArgs* ctx = nullptr) {
  const int channels = ctx ? ctx->channels() : t.C;
  const size_t n = data.size();
  if (counts.size() != n)
    throw py::value_error("got " + std::to_string(n) + " chunks but " +
                          std::to_string(counts.size()) + " counts");
  bool need[2] = {false, false};
  uint64_t all = 0;
  std::vector<ContextModel> models;
  for (size_t i = 0; i < n; ++i) {
    uint64_t total = checked_total(channels, counts[i]);
    if (ctx) models.push_back(ctx->model((uint64_t)counts[i]));
    Header h;
    int st = parse_header(data[i].data(), data[i].size(), &h);
    if (st == OK && h.total != total) st = ERR_COUNT;
    if (st != OK) {
      std::string msg = status_message(st);
      if (st == ERR_COUNT)
        msg += " (stream has " + std::to_string(h.total) + ", requested " +
               std::to_string(channels) + " x " + std::to_string(counts[i]) + ")";
      if (!single) msg = "chunk " + std::to_string(i) + ": " + msg;
      throw py::value_error(msg);
    }
    need[h.escape ? 1 : 0] = true;
    all += total;
  }
  std::vector<py::array> outs(n);
  std::vector<int32_t*> optr(n);
  for (size_t i = 0; i < n; ++i) {
    I32Array a({(py::ssize_t)channels, (py::ssize_t)counts[i]});
    optr[i] = a.mutable_data();
    outs[i] = std::move(a);
  }
  std::vector<int> status(n, OK);
  {
    py::gil_scoped_release nogil;
    uint64_t seen = (t.decoded_symbols += all);
    bool use_lut = lut_pays_off(t, seen);
    for (int v = 0; v < 2; ++v)
      if (need[v]) t.build_dec(v, use_lut);
    TableView v0 = t.view(0), v1 = t.view(1);
    parallel_for(n, threads, [&](size_t i) {
      if (ctx) {
        status[i] = decode_with(data[i].data(), data[i].size(), v0, v1, channels,
                                (uint64_t)counts[i], optr[i], models[i]);
      } else {
        status[i] = decode_core(data[i].data(), data[i].size(), v0, v1, (uint64_t)counts[i], optr[i]);
      }
    });
  }
  for (size_t i = 0; i < n; ++i)
    if (status[i] != OK) raise_status(status[i], single ? -1 : (long)i);
  return outs;
}

// ---------------------------------------------------------------------------------------------

py::bytes encode(py::handle symbols, py::handle cdfs, int precision, int lanes) {
  check_lanes(lanes);
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<I32Array> chunks{as_symbols(symbols, "symbols")};
  py::list r = encode_chunks_impl(chunks, *t, lanes, 1);
  return r[0].cast<py::bytes>();
}

py::array decode(py::handle data, py::handle cdfs, int precision, int64_t count) {
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<ByteView> views;
  views.emplace_back(data);
  return decode_chunks_impl(views, *t, {count}, 1, true)[0];
}

py::list encode_chunks(py::iterable chunks, py::handle cdfs, int precision, int threads,
                       int lanes) {
  check_lanes(lanes);
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<I32Array> arrays;
  size_t i = 0;
  for (py::handle h : chunks) arrays.push_back(as_symbols(h, "chunk " + std::to_string(i++)));
  return encode_chunks_impl(arrays, *t, lanes, threads);
}

std::vector<py::array> decode_chunks(py::iterable data, py::handle cdfs, int precision,
                                     std::vector<int64_t> counts, int threads) {
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<ByteView> views;
  for (py::handle h : data) views.emplace_back(h);
  return decode_chunks_impl(views, *t, counts, threads, false);
}

ContextArgs context_args(py::handle modes, int buckets, int32_t offset, int32_t roff,
                         int64_t width) {
  ContextArgs a;
  py::array m = as_integer_array(modes, "modes", 1);
  for (py::handle v : m) {
    const long long mode = v.cast<long long>();
    if (mode < 0 || mode > 2)
      throw py::value_error("context modes must be 0, 1 or 2, got " + std::to_string(mode));
    a.modes.push_back((uint8_t)mode);
  }
  a.buckets = buckets;
  a.offset = offset;
  a.roff = roff;
  a.width = width;
  a.check();
  return a;
}

py::list encode_context_chunks(py::iterable chunks, py::handle cdfs, int precision,
                               py::handle modes, int buckets, int32_t offset, int32_t roff,
                               int64_t width, int threads, int lanes) {
  check_lanes(lanes);
  ContextArgs ctx = context_args(modes, buckets, offset, roff, width);
  auto t = load_tables(as_cdfs(cdfs), precision);
  ctx.check_tables(*t);
  std::vector<I32Array> arrays;
  size_t i = 0;
  for (py::handle h : chunks) arrays.push_back(as_symbols(h, "chunk " + std::to_string(i++)));
  return encode_chunks_impl(arrays, *t, lanes, threads, &ctx);
}

std::vector<py::array> decode_context_chunks(py::iterable data, py::handle cdfs, int precision,
                                             std::vector<int64_t> counts, py::handle modes,
                                             int buckets, int32_t offset, int32_t roff,
                                             int64_t width, int threads) {
  ContextArgs ctx = context_args(modes, buckets, offset, roff, width);
  auto t = load_tables(as_cdfs(cdfs), precision);
  ctx.check_tables(*t);
  std::vector<ByteView> views;
  for (py::handle h : data) views.emplace_back(h);
  return decode_chunks_impl(views, *t, counts, threads, false, &ctx);
}

// The context model's table rows and coded symbols of one chunk, as the coder computes them.
py::tuple context_of(py::handle symbols, py::handle modes, int buckets, int32_t offset,
                     int32_t roff, int64_t width) {
  I32Array sym = as_symbols(symbols, "symbols");
  ContextArgs ctx = context_args(modes, buckets, offset, roff, width);
  if (sym.shape(0) != ctx.channels())
    throw py::value_error("symbols must have one row per mode");
  const uint64_t count = (uint64_t)sym.shape(1);
  ContextModel m = ctx.model(count);
  py::array_t<uint16_t> rows({sym.shape(0), sym.shape(1)});
  I32Array coded({sym.shape(0), sym.shape(1)});
  int st = context_prepare(sym.data(), ctx.channels(), count, m, rows.mutable_data(),
                           coded.mutable_data());
  if (st != OK) raise_status(st, -1);
  return py::make_tuple(rows, coded);
}

py::dict stream_info(py::handle data) {
  ByteView v(data);
  Header h;
  int st = parse_header(v.data(), v.size(), &h);
  if (st != OK) throw py::value_error(status_message(st));
  py::dict d;
  d["lanes"] = h.lanes;
  d["symbols"] = h.total;
  d["escape"] = h.escape;
  d["header_bytes"] = h.bytes;
  d["version"] = FORMAT_VERSION;
  return d;
}

bool cuda_available() {
#ifdef WALLOC_WITH_CUDA
  return gpu::available();
#else
  return false;
#endif
}

#ifdef WALLOC_WITH_CUDA
py::list cuda_encode_chunks(uintptr_t symbols_ptr, std::vector<int64_t> counts, py::handle cdfs,
                            int precision, int lanes, uintptr_t stream) {
  check_lanes(lanes);
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<uint64_t> cnt;
  for (int64_t k : counts) {
    checked_total(t->C, k);
    cnt.push_back((uint64_t)k);
  }
  std::vector<std::vector<uint8_t>> out;
  std::string err;
  {
    py::gil_scoped_release nogil;
    err = gpu::encode_chunks((const int32_t*)symbols_ptr, cnt, *t, lanes, stream, out);
  }
  if (!err.empty()) throw py::value_error(err);
  py::list r;
  for (auto& b : out) r.append(py::bytes((const char*)b.data(), b.size()));
  return r;
}

void cuda_decode_chunks(py::iterable data, py::handle cdfs, int precision,
                        std::vector<int64_t> counts, uintptr_t out_ptr, uintptr_t stream) {
  U32Array c = as_cdfs(cdfs);
  auto t = load_tables(c, precision);
  std::vector<ByteView> views;
  for (py::handle h : data) views.emplace_back(h);
  if (views.size() != counts.size()) throw py::value_error("one count per chunk is required");
  std::vector<const uint8_t*> ptrs;
  std::vector<size_t> lens;
  std::vector<uint64_t> cnt;
  for (size_t i = 0; i < views.size(); ++i) {
    checked_total(t->C, counts[i]);
    ptrs.push_back(views[i].data());
    lens.push_back(views[i].size());
    cnt.push_back((uint64_t)counts[i]);
  }
  std::string err;
  {
    py::gil_scoped_release nogil;
    err = gpu::decode_chunks(ptrs, lens, cnt, *t, (int32_t*)out_ptr, stream);
  }
  if (!err.empty()) throw py::value_error(err);
}
#endif

}  // namespace

PYBIND11_MODULE(_rans, m) {
  m.doc() =
      "walloc interleaved-rANS entropy coder (CPU, optional CUDA). Streams are self-contained: "
      "decode needs only the bytes, the tables, the precision and the per-row count.";
  m.attr("MAX_LANES") = MAX_LANES;
  m.attr("MAX_PRECISION") = MAX_PRECISION;
  m.attr("MAX_SYMBOLS") = MAX_SYMBOLS;
  m.attr("MAX_TABLES") = MAX_TABLES;
  m.attr("FORMAT_VERSION") = FORMAT_VERSION;
  m.def("encode", &encode, py::arg("symbols"), py::arg("cdfs"), py::arg("precision"),
        py::arg("lanes") = 32,
        "Encode int32 symbols (C, N), row c with table cdfs[c] (uint32 (C, K+1)), to bytes. "
        "Symbols outside [0, K) or of zero frequency are escaped losslessly. `lanes` is the "
        "maximum number of interleaved states; fewer are used for short inputs.");
  m.def("decode", &decode, py::arg("data"), py::arg("cdfs"), py::arg("precision"),
        py::arg("count"),
        "Decode bytes from encode() into int32 (C, count). Raises ValueError on corrupt input.");
  m.def("encode_chunks", &encode_chunks, py::arg("chunks"), py::arg("cdfs"),
        py::arg("precision"), py::arg("threads") = 0, py::arg("lanes") = 32,
        "encode() over independent chunks (each (C, N_i)) on `threads` threads (0: all).");
  m.def("decode_chunks", &decode_chunks, py::arg("data"), py::arg("cdfs"), py::arg("precision"),
        py::arg("counts"), py::arg("threads") = 0,
        "decode() over independent chunks on `threads` threads (0: all).");
  m.def("encode_context_chunks", &encode_context_chunks, py::arg("chunks"), py::arg("cdfs"),
        py::arg("precision"), py::arg("modes"), py::arg("buckets"), py::arg("offset"),
        py::arg("roff"), py::arg("width") = 0, py::arg("threads") = 0, py::arg("lanes") = 32,
        "encode_chunks() with the causal context model (csrc/rans_core.h, ContextModel): chunk "
        "symbols (C, N) are C planes of N / width rows of `width` (0: one row), stored as value "
        "+ offset; channel c uses mode modes[c] and table rows c * buckets .. c * buckets + "
        "buckets - 1 of cdfs, which code residual + roff.");
  m.def("decode_context_chunks", &decode_context_chunks, py::arg("data"), py::arg("cdfs"),
        py::arg("precision"), py::arg("counts"), py::arg("modes"), py::arg("buckets"),
        py::arg("offset"), py::arg("roff"), py::arg("width") = 0, py::arg("threads") = 0,
        "Inverse of encode_context_chunks: chunks -> int32 (C, counts[i]) stored symbols.");
  m.def("context_of", &context_of, py::arg("symbols"), py::arg("modes"), py::arg("buckets"),
        py::arg("offset"), py::arg("roff"), py::arg("width") = 0,
        "(table rows uint16 (C, N), coded symbols int32 (C, N)) of one chunk under the context "
        "model, exactly as encode_context_chunks computes them (for tests and analysis).");
  m.def("stream_info", &stream_info, py::arg("data"),
        "Parse a stream header: dict(lanes, symbols, escape, header_bytes, version).");
  m.def("clear_table_cache", []() { table_cache().clear(); },
        "Drop the cached coding tables (they are rebuilt on the next call).");
  m.def("cuda_available", &cuda_available,
        "True when the extension was compiled with CUDA and a CUDA device is usable.");
#ifdef WALLOC_WITH_CUDA
  m.def("cuda_encode_chunks", &cuda_encode_chunks, py::arg("symbols_ptr"), py::arg("counts"),
        py::arg("cdfs"), py::arg("precision"), py::arg("lanes") = 32, py::arg("stream") = 0,
        "Encode chunks stored back to back in device memory (int32; chunk i is C x counts[i]) "
        "to a list of bytes, bit-identical to encode_chunks.");
  m.def("cuda_decode_chunks", &cuda_decode_chunks, py::arg("data"), py::arg("cdfs"),
        py::arg("precision"), py::arg("counts"), py::arg("out_ptr"), py::arg("stream") = 0,
        "Decode chunks into device memory at out_ptr (int32, chunks back to back, C x "
        "counts[i] each). Synchronizes the stream; raises ValueError on corrupt input.");
#endif
}
