// Host interface of the CUDA coder (implemented in rans.cu).  Plain C++ types only, so the
// extension does not depend on CUDA headers or on torch's C++ ABI: device buffers are passed
// as raw pointers (e.g. torch.Tensor.data_ptr()) and streams as integers (cudaStream_t).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "rans_tables.h"

namespace wrans {
namespace gpu {

// True when a CUDA device is usable.
bool available();

// Encodes chunk i = symbols d_symbols[offset_i, offset_i + C * counts[i]) (device memory,
// row-major C x counts[i], offsets = running sums) into out[i] (host), bit-identical to the
// CPU coder.  Returns "" or an error message.
std::string encode_chunks(const int32_t* d_symbols, const std::vector<uint64_t>& counts,
                          Tables& tables, int lanes, uintptr_t stream,
                          std::vector<std::vector<uint8_t>>& out);

// Decodes chunk i (host bytes) into device memory d_out at the same offsets as above.
// Returns "" or an error message naming the first failing chunk.
std::string decode_chunks(const std::vector<const uint8_t*>& data, const std::vector<size_t>& lens,
                          const std::vector<uint64_t>& counts, Tables& tables, int32_t* d_out,
                          uintptr_t stream);

}  // namespace gpu
}  // namespace wrans
