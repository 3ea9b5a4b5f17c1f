// Python bindings of the wavelet packet analysis and synthesis (csrc/packet.h): module walloc._packet.
//
// Arrays cross the boundary as numpy views of torch tensors (no copies): the input may have any
// non-negative strides (and, for the encoder, uint8 or int16 samples), the output is written in place
// into a C-contiguous float32 array.  The transforms run with the GIL released.

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

// Name of spatial axis i of an N-D array, as the error messages give it.
const char* axis(int n, int i) { return n == 3 ? "L" : i == 2 ? "H" : "W"; }

// Checks that out is a writable C-contiguous float32 array of shape ``expect``.
float* target(py::array& out, const std::ptrdiff_t* expect, int ndim, const char* what) {
  std::ptrdiff_t oshape[4], ostrides[4];
  layout(out, ndim, oshape, ostrides, what);
  if (!out.writeable() || !(out.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be a writable C-contiguous array");
  if (!std::equal(oshape, oshape + ndim, expect)) throw py::value_error(std::string(what) + " has the wrong shape");
  return static_cast<float*>(out.mutable_data());
}

// x -> out by ``run``: the packet of x (B, C, *S) with ``inverse`` false, else its synthesis from
// x (B, C * 2**(dims * levels), *S / 2**levels).
template <int N, class Run>
void transform(const py::array& x, py::array& out, int levels, bool inverse, Run run) {
  std::ptrdiff_t shape[N], strides[N], expect[N];
  layout(x, N, shape, strides, "x");
  expect[0] = shape[0];
  if (inverse) {
    expect[1] = wpacket::signal_channels(shape[1], levels, N - 2);
    for (int i = 2; i < N; ++i) wpacket::check_levels(expect[i] = shape[i] << levels, levels, axis(N, i));
  } else {
    for (int i = 2; i < N; ++i) {
      wpacket::check_levels(shape[i], levels, axis(N, i));
      expect[i] = shape[i] >> levels;
    }
    expect[1] = shape[1] << ((N - 2) * levels);
  }
  float* dst = target(out, expect, N, "out");
  const float* src = static_cast<const float*>(x.data());
  py::gil_scoped_release nogil;
  run(src, shape, strides, dst);
}

// One transform of packet.h (packet2d, packet1d, ipacket2d, ipacket1d) as a binding.
template <int N, bool Inverse, void (*F)(const float*, const std::ptrdiff_t*, const std::ptrdiff_t*, int, float*, int, bool)>
void bound(const py::array& x, py::array out, int levels, int threads, bool symmetric) {
  transform<N>(x, out, levels, Inverse, [&](const float* src, auto shape, auto strides, float* dst) {
    F(src, shape, strides, levels, dst, threads, symmetric);
  });
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
  for (int i = 2; i < N; ++i) wpacket::check_levels(shape[i], levels, axis(N, i));
  if (!(weight.flags() & py::array::c_style) || !(bias.flags() & py::array::c_style))
    throw py::value_error("weight and bias must be C-contiguous");
  if (wshape[1] != (shape[1] << (per_level * levels)) || bshape[0] != wshape[0])
    throw py::value_error("weight must be (K, C * 2**(dims * levels)) and bias (K,)");
  std::ptrdiff_t zshape[N] = {shape[0], wshape[0]};
  for (int i = 2; i < N; ++i) zshape[i] = shape[i] >> levels;
  const T* src = static_cast<const T*>(x.data());
  const float* w = static_cast<const float*>(weight.data());
  const float* b = static_cast<const float*>(bias.data());
  float* dst = target(z, zshape, N, "z");
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

void encode2d(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels, int threads,
              bool symmetric) {
  encode<4>(x, weight, bias, z, levels, 2, [&](const auto* src, auto shape, auto strides, const float* w, const float* b,
                                               std::ptrdiff_t k, float* dst) {
    wpacket::encode2d(src, shape, strides, levels, w, b, k, dst, threads, symmetric);
  });
}

void encode1d(const py::array& x, const py::array& weight, const py::array& bias, py::array z, int levels, int threads,
              bool symmetric) {
  encode<3>(x, weight, bias, z, levels, 1, [&](const auto* src, auto shape, auto strides, const float* w, const float* b,
                                               std::ptrdiff_t k, float* dst) {
    wpacket::encode1d(src, shape, strides, levels, w, b, k, dst, threads, symmetric);
  });
}

}  // namespace

PYBIND11_MODULE(_packet, m) {
  m.doc() = "CDF 9/7 wavelet packet analysis and synthesis on float32, by lifting (CPU); every function takes "
            "symmetric=True for whole-sample symmetric borders instead of periodic ones.";
  m.def("packet2d", &bound<4, false, wpacket::packet2d>, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1, py::arg("symmetric") = false,
        "x (B, C, H, W) float32, any strides -> out (B, C * 4**levels, H / 2**levels, W / 2**levels), in place.");
  m.def("packet1d", &bound<3, false, wpacket::packet1d>, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1, py::arg("symmetric") = false,
        "x (B, C, L) float32, any strides -> out (B, C * 2**levels, L / 2**levels), in place.");
  m.def("ipacket2d", &bound<4, true, wpacket::ipacket2d>, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1, py::arg("symmetric") = false,
        "Inverse of packet2d: x (B, C * 4**levels, h, w) float32, any strides -> out (B, C, h * 2**levels, "
        "w * 2**levels), in place.");
  m.def("ipacket1d", &bound<3, true, wpacket::ipacket1d>, py::arg("x"), py::arg("out"), py::arg("levels"), py::arg("threads") = 1, py::arg("symmetric") = false,
        "Inverse of packet1d: x (B, C * 2**levels, l) float32, any strides -> out (B, C, l * 2**levels), in place.");
  m.def("encode2d", &encode2d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("z"), py::arg("levels"),
        py::arg("threads") = 1, py::arg("symmetric") = false,
        "z = weight @ packet2d(x) + bias per position (a 1x1 convolution), written in place; "
        "z (B, K, H / 2**levels, W / 2**levels).  x float32, uint8 (read as x / 255) or int16 (read as x / 32768).");
  m.def("encode1d", &encode1d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("z"), py::arg("levels"),
        py::arg("threads") = 1, py::arg("symmetric") = false, "z = weight @ packet1d(x) + bias per position, written in place; z (B, K, L / 2**levels).  "
        "x float32, uint8 (read as x / 255) or int16 (read as x / 32768).");
}
