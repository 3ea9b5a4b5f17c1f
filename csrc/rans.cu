// CUDA coder for walloc: encodes/decodes many independent chunks in parallel on the GPU.
//
// The coding itself is the shared code of rans_core.h (the same functions the CPU coder runs),
// so GPU streams are bit-identical to CPU streams.  Parallelism is across chunks: one thread
// codes one chunk (the interleaved lanes of a chunk share one sequential word stream), so feed
// it many chunks.  The encoder prepass (escape count and size estimate, which fix the lane
// count) is an integer reduction done by one block per chunk; integer sums are
// order-independent, so the result equals the CPU's.

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "rans_core.h"
#include "rans_cuda.h"
#include "rans_tables.h"

namespace wrans {
namespace gpu {
namespace {

constexpr int PREPASS_THREADS = 256;
constexpr int CODER_THREADS = 64;
// Slot-table entries (u16) up to which the device decodes through full slot tables; larger table
// sets (up to MAX_TABLES x 2^16 slots) use the coarse lookup, as the CPU does.
constexpr uint64_t DEVICE_LUT_ENTRIES = 1ull << 26;

std::string cuda_error(cudaError_t e, const char* what) {
  return std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e);
}

#define WR_CUDA_TRY(expr)                                       \
  do {                                                          \
    cudaError_t e_ = (expr);                                    \
    if (e_ != cudaSuccess) return cuda_error(e_, #expr);        \
  } while (0)

struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  cudaError_t alloc(size_t bytes) { return cudaMalloc(&p, bytes ? bytes : 1); }
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

template <class T>
cudaError_t upload(DeviceBuffer& d, const std::vector<T>& h, cudaStream_t s) {
  cudaError_t e = d.alloc(h.size() * sizeof(T));
  if (e != cudaSuccess || h.empty()) return e;
  return cudaMemcpyAsync(d.p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice, s);
}

// Device copies of one table variant.
struct DeviceTables {
  DeviceBuffer cdf, cost, steal, enc, dec, lut, coarse;
  TableView view{};

  cudaError_t upload_from(Tables& t, int v, bool with_enc, bool with_dec, cudaStream_t s) {
    cudaError_t e;
    if ((e = upload(cdf, t.cdf, s)) != cudaSuccess) return e;
    if ((e = upload(cost, t.cost, s)) != cudaSuccess) return e;
    if ((e = upload(steal, t.steal, s)) != cudaSuccess) return e;
    if (with_enc && (e = upload(enc, t.enc[v], s)) != cudaSuccess) return e;
    if (with_dec && (e = upload(dec, t.dec[v], s)) != cudaSuccess) return e;
    if (with_dec && (e = upload(lut, t.lut[v], s)) != cudaSuccess) return e;
    if (with_dec && (e = upload(coarse, t.coarse, s)) != cudaSuccess) return e;
    view = t.view(v);
    view.cdf = cdf.as<uint32_t>();
    view.cost = cost.as<uint32_t>();
    view.steal = v == 1 ? steal.as<int32_t>() : nullptr;
    view.enc = with_enc ? enc.as<EncSym>() : nullptr;
    view.dec = with_dec ? dec.as<DecSym>() : nullptr;
    view.lut = (with_dec && !t.lut[v].empty()) ? lut.as<uint16_t>() : nullptr;
    view.coarse = (with_dec && !t.coarse.empty()) ? coarse.as<uint16_t>() : nullptr;
    return cudaSuccess;
  }
};

__global__ void prepass_kernel(const int32_t* sym, const uint64_t* sym_offset,
                               const uint64_t* counts, int chunks, TableView base,
                               PrepassResult* out) {
  const int i = blockIdx.x;
  if (i >= chunks) return;
  const uint64_t count = counts[i];
  const uint64_t total = (uint64_t)base.C * count;
  const int32_t* s = sym + sym_offset[i];
  uint64_t esc = 0, cost = 0;
  for (uint64_t k = threadIdx.x; k < total; k += blockDim.x) {
    const int c = (int)(k / count);
    const EncSym* row = base.enc + (size_t)c * (base.K + 1);
    const int32_t v = s[k];
    if (is_escape(row, base.K, v)) {
      esc++;
      cost += (uint64_t)ESC_COST_BITS << COST_FRAC_BITS;
    } else {
      cost += base.cost[(size_t)c * base.K + v];
    }
  }
  __shared__ unsigned long long s_esc[PREPASS_THREADS], s_cost[PREPASS_THREADS];
  s_esc[threadIdx.x] = esc;
  s_cost[threadIdx.x] = cost;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) {
      s_esc[threadIdx.x] += s_esc[threadIdx.x + w];
      s_cost[threadIdx.x] += s_cost[threadIdx.x + w];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[i] = PrepassResult{s_esc[0], s_cost[0]};
}

__global__ void encode_kernel(const int32_t* sym, const uint64_t* sym_offset,
                              const uint64_t* counts, const PrepassResult* pre,
                              const int* lanes, int chunks, TableView v0, TableView v1,
                              uint32_t* words, const uint64_t* word_offset, const uint64_t* cap,
                              uint64_t* used, int* status) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= chunks) return;
  const bool esc = pre[i].escapes > 0;
  status[i] = encode_core(sym + sym_offset[i], counts[i], esc ? v1 : v0, lanes[i], esc,
                          pre[i].escapes, words + word_offset[i], cap[i], &used[i]);
}

__global__ void decode_kernel(const uint8_t* data, const uint64_t* data_offset,
                              const uint64_t* lens, const uint64_t* counts,
                              const uint64_t* out_offset, int chunks, TableView v0, TableView v1,
                              int32_t* out, int* status) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= chunks) return;
  status[i] = decode_core(data + data_offset[i], lens[i], v0, v1, counts[i], out + out_offset[i]);
}

std::string chunk_error(size_t i, int st) {
  return "chunk " + std::to_string(i) + ": " + status_message(st);
}

}  // namespace

bool available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a driverless machine
    return false;
  }
  return n > 0;
}

std::string encode_chunks(const int32_t* d_symbols, const std::vector<uint64_t>& counts,
                          Tables& tables, int lanes_req, uintptr_t stream_handle,
                          std::vector<std::vector<uint8_t>>& out) {
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  const size_t n = counts.size();
  out.assign(n, {});
  if (n == 0) return "";
  std::vector<uint64_t> sym_offset(n);
  uint64_t acc = 0;
  for (size_t i = 0; i < n; ++i) {
    sym_offset[i] = acc;
    acc += (uint64_t)tables.C * counts[i];
  }
  tables.build_enc(0);
  tables.build_enc(1);
  DeviceTables t0, t1;
  WR_CUDA_TRY(t0.upload_from(tables, 0, true, false, stream));
  WR_CUDA_TRY(t1.upload_from(tables, 1, true, false, stream));
  DeviceBuffer d_sym_offset, d_counts, d_pre;
  WR_CUDA_TRY(upload(d_sym_offset, sym_offset, stream));
  WR_CUDA_TRY(upload(d_counts, counts, stream));
  WR_CUDA_TRY(d_pre.alloc(n * sizeof(PrepassResult)));
  prepass_kernel<<<(unsigned)n, PREPASS_THREADS, 0, stream>>>(
      d_symbols, d_sym_offset.as<uint64_t>(), d_counts.as<uint64_t>(), (int)n, t0.view,
      d_pre.as<PrepassResult>());
  WR_CUDA_TRY(cudaGetLastError());
  std::vector<PrepassResult> pre(n);
  WR_CUDA_TRY(cudaMemcpyAsync(pre.data(), d_pre.p, n * sizeof(PrepassResult),
                              cudaMemcpyDeviceToHost, stream));
  WR_CUDA_TRY(cudaStreamSynchronize(stream));

  std::vector<int> lanes(n);
  std::vector<uint64_t> word_offset(n), cap(n);
  uint64_t words_total = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t total = (uint64_t)tables.C * counts[i];
    lanes[i] = choose_lanes(total, pre[i].cost, lanes_req);
    cap[i] = encode_capacity_words(total, pre[i].escapes, lanes[i]);
    word_offset[i] = words_total;
    words_total += cap[i];
  }
  DeviceBuffer d_lanes, d_word_offset, d_cap, d_words, d_used, d_status;
  WR_CUDA_TRY(upload(d_lanes, lanes, stream));
  WR_CUDA_TRY(upload(d_word_offset, word_offset, stream));
  WR_CUDA_TRY(upload(d_cap, cap, stream));
  WR_CUDA_TRY(d_words.alloc(words_total * sizeof(uint32_t)));
  WR_CUDA_TRY(d_used.alloc(n * sizeof(uint64_t)));
  WR_CUDA_TRY(d_status.alloc(n * sizeof(int)));
  const unsigned blocks = (unsigned)((n + CODER_THREADS - 1) / CODER_THREADS);
  encode_kernel<<<blocks, CODER_THREADS, 0, stream>>>(
      d_symbols, d_sym_offset.as<uint64_t>(), d_counts.as<uint64_t>(), d_pre.as<PrepassResult>(),
      d_lanes.as<int>(), (int)n, t0.view, t1.view, d_words.as<uint32_t>(),
      d_word_offset.as<uint64_t>(), d_cap.as<uint64_t>(), d_used.as<uint64_t>(),
      d_status.as<int>());
  WR_CUDA_TRY(cudaGetLastError());
  std::vector<uint64_t> used(n);
  std::vector<int> status(n);
  WR_CUDA_TRY(cudaMemcpyAsync(used.data(), d_used.p, n * sizeof(uint64_t),
                              cudaMemcpyDeviceToHost, stream));
  WR_CUDA_TRY(cudaMemcpyAsync(status.data(), d_status.p, n * sizeof(int),
                              cudaMemcpyDeviceToHost, stream));
  WR_CUDA_TRY(cudaStreamSynchronize(stream));
  for (size_t i = 0; i < n; ++i)
    if (status[i] != OK) return chunk_error(i, status[i]);
  std::vector<uint32_t> words;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t total = (uint64_t)tables.C * counts[i];
    uint8_t header[MAX_HEADER_BYTES];
    int hl = write_header(header, lanes[i], pre[i].escapes > 0, total);
    out[i].resize((size_t)hl + 4 * (size_t)used[i]);
    memcpy(out[i].data(), header, hl);
    if (!used[i]) continue;
    words.resize(used[i]);
    WR_CUDA_TRY(cudaMemcpyAsync(words.data(),
                                d_words.as<uint32_t>() + word_offset[i] + cap[i] - used[i],
                                4 * (size_t)used[i], cudaMemcpyDeviceToHost, stream));
    WR_CUDA_TRY(cudaStreamSynchronize(stream));
    for (uint64_t k = 0; k < used[i]; ++k) store_u32le(out[i].data() + hl + 4 * k, words[k]);
  }
  return "";
}

std::string decode_chunks(const std::vector<const uint8_t*>& data, const std::vector<size_t>& lens,
                          const std::vector<uint64_t>& counts, Tables& tables, int32_t* d_out,
                          uintptr_t stream_handle) {
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  const size_t n = data.size();
  if (n == 0) return "";
  // headers are validated on the host first, for clear errors before any device work
  std::vector<uint64_t> data_offset(n), len64(n), out_offset(n);
  uint64_t bytes = 0, syms = 0;
  for (size_t i = 0; i < n; ++i) {
    Header h;
    int st = parse_header(data[i], lens[i], &h);
    if (st == OK && h.total != (uint64_t)tables.C * counts[i]) st = ERR_COUNT;
    if (st != OK) return chunk_error(i, st);
    data_offset[i] = bytes;
    len64[i] = lens[i];
    bytes += lens[i];
    out_offset[i] = syms;
    syms += (uint64_t)tables.C * counts[i];
  }
  const bool use_lut = ((uint64_t)tables.C << tables.prec) <= DEVICE_LUT_ENTRIES;
  tables.build_dec(0, use_lut);
  tables.build_dec(1, use_lut);
  DeviceTables t0, t1;
  WR_CUDA_TRY(t0.upload_from(tables, 0, false, true, stream));
  WR_CUDA_TRY(t1.upload_from(tables, 1, false, true, stream));
  std::vector<uint8_t> packed(bytes);
  for (size_t i = 0; i < n; ++i)
    if (lens[i]) memcpy(packed.data() + data_offset[i], data[i], lens[i]);
  DeviceBuffer d_data, d_data_offset, d_lens, d_counts, d_out_offset, d_status;
  WR_CUDA_TRY(upload(d_data, packed, stream));
  WR_CUDA_TRY(upload(d_data_offset, data_offset, stream));
  WR_CUDA_TRY(upload(d_lens, len64, stream));
  WR_CUDA_TRY(upload(d_counts, counts, stream));
  WR_CUDA_TRY(upload(d_out_offset, out_offset, stream));
  WR_CUDA_TRY(d_status.alloc(n * sizeof(int)));
  const unsigned blocks = (unsigned)((n + CODER_THREADS - 1) / CODER_THREADS);
  decode_kernel<<<blocks, CODER_THREADS, 0, stream>>>(
      d_data.as<uint8_t>(), d_data_offset.as<uint64_t>(), d_lens.as<uint64_t>(),
      d_counts.as<uint64_t>(), d_out_offset.as<uint64_t>(), (int)n, t0.view, t1.view, d_out,
      d_status.as<int>());
  WR_CUDA_TRY(cudaGetLastError());
  std::vector<int> status(n);
  WR_CUDA_TRY(cudaMemcpyAsync(status.data(), d_status.p, n * sizeof(int), cudaMemcpyDeviceToHost,
                              stream));
  WR_CUDA_TRY(cudaStreamSynchronize(stream));
  for (size_t i = 0; i < n; ++i)
    if (status[i] != OK) return chunk_error(i, status[i]);
  return "";
}

}  // namespace gpu
}  // namespace wrans
