// Python bindings of the wavelet packet analysis (csrc/packet.h): module walloc._packet.
//
// Arrays cross the boundary as numpy views of torch tensors (no copies): the input may have any
// non-negative strides (and, for the encoder, uint8 or int16 samples), the output is written in place into a C-contiguous float32 array.  The
// transform runs with the GIL released.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "packet.h"

namespace py = pybind11;

namespace {

// Element strides of a T array of ``ndim`` dimensions; refuses other dtypes and odd strides.
template <class T = float>
void layout(const py::array& a, int ndim, std::ptrdiff_t* shape, std::ptrdiff_t* strides, const char* what) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(what) + " must be " + py::str(py::dtype::of<T>()).cast<std::string>());
  if (a.ndim() != ndim)
    throw py::value_error(std::string(what) + " must be " + std::to_string(ndim) + "-D, got " +
                          std::to_string(a.ndim()) + "-D");
  for (int i = 0; i < ndim; ++i) {
    shape[i] = a.shape(i);
    if (a.strides(i) < 0 || a.strides(i) % sizeof(T))
      throw py::value_error(std::string(what) + " needs non-negative strides in whole elements");
    strides[i] = a.strides(i) / std::ptrdiff_t(sizeof(T));
  }
}

// Checks that out is a writable C-contiguous float32 array of the packet's shape.
float* target(py::array& out, const std::ptrdiff_t* shape, int ndim, int levels, int per_level) {
  std::ptrdiff_t oshape[4], ostrides[4];
  layout(out, ndim, oshape, ostrides, "out");
  if (!out.writeable() || !(out.flags() & py::array::c_style))
    throw py::value_error("out must be a writable C-contiguous array");
  bool ok = oshape[0] == shape[0] && oshape[1] == (shape[1] << (per_level * levels));
  for (int i = 2; i < ndim; ++i) ok = ok && (oshape[i] << levels) == shape[i];
  if (!ok) throw py::value_error("out has the wrong shape for this packet");
  return static_cast<float*>(out.mutable_data());
}

void packet2d(const py::array& x, py::array out, int levels, int threads) {
  std::ptrdiff_t shape[4], strides[4];
  layout(x, 4, shape, strides, "x");
  wpacket::check_levels(shape[2], levels, "H");
  wpacket::check_levels(shape[3], levels, "W");
  float* dst = target(out, shape, 4, levels, 2);
  const float* src = static_cast<const float*>(x.data());
  py::gil_scoped_release nogil;
  wpacket::packet2d(src, shape, strides, levels, dst, threads);
}

void packet1d(const py::array& x, py::array out, int levels, int threads) {
  std::ptrdiff_t shape[3], strides[3];
  layout(x, 3, shape, strides, "x");
  wpacket::check_levels(shape[2], levels, "L");
  float* dst = target(out, shape, 3, levels, 1);
  const float* src = static_cast<const float*>(x.data());
  py::gil_scoped_release nogil;
  wpacket::packet1d(src, shape, strides, levels, dst, threads);
}

// The encoder on samples T: weight (K, C * Q) and bias (K) C-contiguous float32, z (B, K, *latent)
// written in place.
template <class T, int N, class Run>
void encode_as(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels,
               int per_level, Run run) {
  std::ptrdiff_t shape[N], strides[N], wshape[2], wstrides[2], bshape[1], bstrides[1];
  layout<T>(x, N, shape, strides, "x");
  layout(weight, 2, wshape, wstrides, "weight");
  layout(bias, 1, bshape, bstrides, "bias");
  for (int i = 2; i < N; ++i) wpacket::check_levels(shape[i], levels, N == 3 ? "L" : i == 2 ? "H" : "W");
  if (!(weight.flags() & py::array::c_style) || !(bias.flags() & py::array::c_style))
    throw py::value_error("weight and bias must be C-contiguous");
  if (wshape[1] != (shape[1] << (per_level * levels)) || bshape[0] != wshape[0])
    throw py::value_error("weight must be (K, C * 2**(dims * levels)) and bias (K,)");
  std::ptrdiff_t zshape[N], zstrides[N];
  layout(z, N, zshape, zstrides, "z");
  if (!z.writeable() || !(z.flags() & py::array::c_style)) throw py::value_error("z must be a writable C-contiguous array");
  bool ok = zshape[0] == shape[0] && zshape[1] == wshape[0];
  for (int i = 2; i < N; ++i) ok = ok && (zshape[i] << levels) == shape[i];
  if (!ok) throw py::value_error("z has the wrong shape for this encoder");
  const T* src = static_cast<const T*>(x.data());
  const float* w = static_cast<const float*>(weight.data());
  const float* b = static_cast<const float*>(bias.data());
  float* dst = static_cast<float*>(z.mutable_data());
  py::gil_scoped_release nogil;
  run(src, shape, strides, w, b, wshape[0], dst);
}

// encode_as for x's sample type: float32, uint8 (images) or int16 (audio), the latter two read as
// walloc.tiling.to_float would convert them.
template <int N, class Run>
void encode(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels,
            int per_level, Run run) {
  if (x.dtype().is(py::dtype::of<std::uint8_t>()))
    encode_as<std::uint8_t, N>(x, weight, bias, z, levels, per_level, run);
  else if (x.dtype().is(py::dtype::of<std::int16_t>()))
    encode_as<std::int16_t, N>(x, weight, bias, z, levels, per_level, run);
  else if (x.dtype().is(py::dtype::of<float>()))
    encode_as<float, N>(x, weight, bias, z, levels, per_level, run);
  else
    throw py::type_error("x must be float32, uint8 or int16");
}

void encode2d(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels, int threads) {
  encode<4>(x, weight, bias, z, levels, 2, [&](const auto* src, auto shape, auto strides, const float* w, const float* b,
                                               std::ptrdiff_t k, float* dst) {
    wpacket::encode2d(src, shape, strides, levels, w, b, k, dst, threads);
  });
}

void encode1d(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels, int threads) {
  encode<3>(x, weight, bias, z, levels, 1, [&](const auto* src, auto shape, auto strides, const float* w, const float* b,
                                               std::ptrdiff_t k, float* dst) {
    wpacket::encode1d(src, shape, strides, levels, w, b, k, dst, threads);
  });
}

}  // namespace

PYBIND11_MODULE(_packet, m) {
  m.doc() = "Periodized CDF 9/7 wavelet packet analysis on float32, by lifting (CPU).";
  m.def("packet2d", &packet2d, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1,
        "x (B, C, H, W) float32, any strides -> out (B, C * 4**levels, H / 2**levels, W / 2**levels), in place.");
  m.def("packet1d", &packet1d, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1,
        "x (B, C, L) float32, any strides -> out (B, C * 2**levels, L / 2**levels), in place.");
  m.def("encode2d", &encode2d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("z"), py::arg("levels"),
        py::arg("threads") = 1,
        "z = weight @ packet2d(x) + bias per position (a 1x1 convolution), written in place; "
        "z (B, K, H / 2**levels, W / 2**levels).  x float32, uint8 (read as x / 255) or int16 (read as x / 32768).");
  m.def("encode1d", &encode1d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("z"), py::arg("levels"),
        py::arg("threads") = 1, "z = weight @ packet1d(x) + bias per position, written in place; z (B, K, L / 2**levels).  "
        "x float32, uint8 (read as x / 255) or int16 (read as x / 32768).");
}
