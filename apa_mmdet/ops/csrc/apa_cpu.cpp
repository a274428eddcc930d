// Copyright (c) apa_mmdet contributors.
// Fused CPU kernels of APA(z) = (λ·exp(−κz) + 1)^(−1/λ) and AGLU(z) = z·APA(z).
//
// One pass over the input each way, vectorised with ATen's at::vec and
// parallel (OpenMP, torch's pool) over rows of one channel, or, when the
// channels are the innermost dimension (logits, transformer tokens), over
// tokens of C channels with per-lane λ, κ. With
// u = κz − ln λ, t = exp(−|u|):
//   log p = (min(u, 0) − log1p(t)) / λ = −s/λ,   σ(−u) = (u ≥ 0 ? t : 1)/(1 + t)
//   q = p·σ(−u)/λ,  ∂p/∂z = κq,  ∂p/∂κ = zq,  ∂p/∂λ = p·(s − σ(−u))/λ²
// Three transcendentals per element in each direction (two exp, one log1p;
// see the helpers). Where w = e^{−u} < 1e-3, s − σ = log1p(w) − w/(1+w)
// cancels and its series w²(1/2 − w(2/3 − w(3/4 − 4w/5))) is used.
// float16/bfloat16 are computed in float32, float64 in float64.
//
// The kernels take the parameters as they are stored (any float dtype, λ
// not yet floored) and finish their gradients: λ is used as max(λ, 1e-4)
// and gets no gradient below it (as torch.clamp), ∂L/∂λ and ∂L/∂κ come back
// in the parameters' dtypes. They are registered twice: as the operators
// torch.ops.apa_mmdet.apa_forward/apa_backward (what torch.compile puts in
// its graphs) and as this extension module's functions, which eager mode
// calls directly, without the dispatcher: forward/backward, and
// differentiable, forward with its autograd node made here in C++ (no
// Python runs in its backward).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/extension.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using at::vec::Vectorized;

constexpr int64_t kScalarRowLength = 16384;  // elements per task, scalar λ/κ
constexpr int64_t kGrainElements = 32768;    // elements per parallel task
constexpr int64_t kBufferLength = 256;       // 16-bit conversion buffer
constexpr double kSeriesMinU = 6.907755278982137;  // −ln(1e-3)
constexpr double kLambdaMin = 1e-4;  // λ is used as max(λ, 1e-4)

template <typename T>
struct Channel {
  T kappa, log_lambda, inv_lambda, lambda;  // lambda: floored
};

// log1p(t) for t in [0, 1]. float: t·P(t), P the degree-9 Chebyshev
// interpolant of log1p(t)/t on [0, 1] (max relative error 1.6e-7 evaluated
// in float32; no division, SLEEF's general log1pf costs several times more);
// double: SLEEF.
template <typename T>
inline Vectorized<T> log1p_unit(const Vectorized<T>& t) {
  return t.log1p();
}

template <>
inline Vectorized<float> log1p_unit(const Vectorized<float>& t) {
  using V = Vectorized<float>;
  V poly(-0.003176057f);
  for (const float c : {0.0195425272f, -0.0563736128f, 0.1054362379f,
                        -0.1526966707f, 0.1966327426f, -0.2495161626f,
                        0.333297105f, -0.4999989265f, 0.9999999947f})
    poly = at::vec::fmadd(poly, t, V(c));
  return t * poly;
}

// exp(x) for x <= 0 (or NaN). float: ATen's inline polynomial exp_u20
// (measured max relative error 3.7e-7 down to −80; 0 below −87, where
// SLEEF's u10 exp, 8e-8, is several times slower) with NaN passed through;
// double: SLEEF.
template <typename T>
inline Vectorized<T> exp_nonpositive(const Vectorized<T>& x) {
  return x.exp();
}

template <>
inline Vectorized<float> exp_nonpositive(const Vectorized<float>& x) {
  return Vectorized<float>::blendv(x.exp_u20(), x, x.isnan());
}

template <typename T>
struct Terms {
  Vectorized<T> u, t, neg_s, p;
};

// Per-lane constants: one channel's broadcast (rows of one channel) or
// consecutive channels' (channels-last rows).
template <typename T>
struct Consts {
  Vectorized<T> kappa, log_lambda, inv_lambda;
};

template <typename T>
inline Consts<T> broadcast(const Channel<T>& c) {
  using V = Vectorized<T>;
  return {V(c.kappa), V(c.log_lambda), V(c.inv_lambda)};
}

template <typename T>
inline Terms<T> apa_terms(const Vectorized<T>& z, const Consts<T>& c) {
  using V = Vectorized<T>;
  Terms<T> r;
  r.u = at::vec::fmadd(z, c.kappa, V(T(0)) - c.log_lambda);
  r.t = exp_nonpositive(r.u | V(T(-0.0)));  // −|u|: set the sign bit
  r.neg_s = at::vec::clamp_max(r.u, V(T(0))) - log1p_unit(r.t);  // NaN stays
  r.p = exp_nonpositive(r.neg_s * c.inv_lambda);
  return r;
}

template <typename T>
inline Vectorized<T> forward_vec(const Vectorized<T>& z, const Consts<T>& c,
                                 bool aglu) {
  const Vectorized<T> p = apa_terms(z, c).p;
  return aglu ? z * p : p;
}

// The input gradient of one vector; the λ and κ terms (g·∂out/∂λ·λ² and
// g·∂out/∂κ per lane) are added to acc_lambda and acc_kappa.
template <typename T>
inline Vectorized<T> backward_vec(const Vectorized<T>& z,
                                  const Vectorized<T>& gv, const Consts<T>& c,
                                  bool aglu, Vectorized<T>& acc_lambda,
                                  Vectorized<T>& acc_kappa) {
  using V = Vectorized<T>;
  const V one(T(1)), zero(T(0));
  const Terms<T> r = apa_terms(z, c);
  const V sigma = V::blendv(one, r.t, r.u >= zero) / (one + r.t);
  V diff = zero - r.neg_s - sigma;  // s − σ(−u)
  const V use_series = r.u > V(T(kSeriesMinU));
  if (use_series.zero_mask() != (1 << V::size()) - 1) {  // rare lanes
    const V w = r.t;  // e^{−u} there (u > 0)
    const V series = w * w *
        (V(T(0.5)) - w * (V(T(2. / 3.)) - w * (V(T(0.75)) - V(T(0.8)) * w)));
    diff = V::blendv(diff, series, use_series);
  }
  const V q_g = r.p * sigma * c.inv_lambda * gv;
  if (aglu) {
    const V zq_g = z * q_g;
    acc_kappa = at::vec::fmadd(zq_g, z, acc_kappa);
    acc_lambda = at::vec::fmadd(z * r.p * gv, diff, acc_lambda);
    return at::vec::fmadd(c.kappa, zq_g, r.p * gv);
  }
  acc_kappa = at::vec::fmadd(q_g, z, acc_kappa);
  acc_lambda = at::vec::fmadd(r.p * gv, diff, acc_lambda);
  return c.kappa * q_g;
}

// x[0, n) → out with one channel's constants (a row of one channel).
template <typename T>
void forward_span(const T* x, T* out, int64_t n, const Channel<T>& c,
                  bool aglu) {
  using V = Vectorized<T>;
  const Consts<T> k = broadcast(c);
  for (int64_t i = 0; i < n; i += V::size()) {
    const int64_t m = std::min<int64_t>(V::size(), n - i);
    const V z = m == V::size() ? V::loadu(x + i) : V::loadu(x + i, m);
    forward_vec(z, k, aglu).store(out + i, m);
  }
}

// Per-channel constants as arrays, for channels-last rows.
template <typename T>
struct ChannelArrays {
  std::vector<T> kappa, log_lambda, inv_lambda;

  // Lanes past m load 0 (finite terms, and their gradient is 0).
  Consts<T> at(int64_t channel, int64_t m) const {
    using V = Vectorized<T>;
    return {V::loadu(kappa.data() + channel, m),
            V::loadu(log_lambda.data() + channel, m),
            V::loadu(inv_lambda.data() + channel, m)};
  }
};

// x[0, n) → out, element i with channel first_channel + i's constants (a
// channels-last row).
template <typename T>
void forward_channels(const T* x, T* out, int64_t n, int64_t first_channel,
                      const ChannelArrays<T>& arrays, bool aglu) {
  using V = Vectorized<T>;
  for (int64_t i = 0; i < n; i += V::size()) {
    const int64_t m = std::min<int64_t>(V::size(), n - i);
    const V z = m == V::size() ? V::loadu(x + i) : V::loadu(x + i, m);
    forward_vec(z, arrays.at(first_channel + i, m), aglu).store(out + i, m);
  }
}

// Writes the input gradient; adds Σ g·∂out/∂λ·λ² and Σ g·∂out/∂κ to acc.
template <typename T>
void backward_span(const T* g, const T* x, T* grad_x, int64_t n,
                   const Channel<T>& c, bool aglu, Vectorized<T>& acc_lambda,
                   Vectorized<T>& acc_kappa) {
  using V = Vectorized<T>;
  const Consts<T> k = broadcast(c);
  for (int64_t i = 0; i < n; i += V::size()) {
    const int64_t m = std::min<int64_t>(V::size(), n - i);
    const bool full = m == V::size();
    const V z = full ? V::loadu(x + i) : V::loadu(x + i, m);
    const V gv = full ? V::loadu(g + i) : V::loadu(g + i, m);  // 0 past n
    backward_vec(z, gv, k, aglu, acc_lambda, acc_kappa).store(grad_x + i, m);
  }
}

// The same for a channels-last row segment: the λ and κ terms of channel
// first_channel + i are added to sums_lambda[i] and sums_kappa[i].
template <typename T>
void backward_channels(const T* g, const T* x, T* grad_x, int64_t n,
                       int64_t first_channel, const ChannelArrays<T>& arrays,
                       bool aglu, T* sums_lambda, T* sums_kappa) {
  using V = Vectorized<T>;
  for (int64_t i = 0; i < n; i += V::size()) {
    const int64_t m = std::min<int64_t>(V::size(), n - i);
    const bool full = m == V::size();
    const V z = full ? V::loadu(x + i) : V::loadu(x + i, m);
    const V gv = full ? V::loadu(g + i) : V::loadu(g + i, m);  // 0 past n
    V acc_lambda = V::loadu(sums_lambda + i, m);
    V acc_kappa = V::loadu(sums_kappa + i, m);
    backward_vec(z, gv, arrays.at(first_channel + i, m), aglu, acc_lambda,
                 acc_kappa).store(grad_x + i, m);
    acc_lambda.store(sums_lambda + i, m);
    acc_kappa.store(sums_kappa + i, m);
  }
}

template <typename T>
double lane_sum(const Vectorized<T>& v) {
  T lanes[Vectorized<T>::size()];
  v.store(lanes);
  double total = 0;
  for (int64_t k = 0; k < Vectorized<T>::size(); ++k) total += lanes[k];
  return total;
}

// Rows: one channel's contiguous run (per-channel λ, κ) or a fixed-length
// chunk (scalar λ, κ). Row r covers [r·inner, min((r+1)·inner, numel)).
struct Rows {
  int64_t count, inner, channels, numel;
};

Rows make_rows(const at::Tensor& x, int64_t channels) {
  const int64_t numel = x.numel();
  if (channels == 1) {
    const int64_t inner = std::max<int64_t>(
        1, std::min<int64_t>(kScalarRowLength, numel));
    return {(numel + inner - 1) / inner, inner, 1, numel};
  }
  const int64_t rows = x.size(0) * channels;
  return {rows, rows ? numel / rows : 0, channels, numel};
}

// fn(row, start, length, channel) for every row, rows split over threads.
template <typename F>
void for_each_row(const Rows& rows, const F& fn) {
  const int64_t grain =
      std::max<int64_t>(1, kGrainElements / std::max<int64_t>(rows.inner, 1));
  at::parallel_for(0, rows.count, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t start = r * rows.inner;
      fn(r, start, std::min(rows.inner, rows.numel - start),
         r % rows.channels);
    }
  });
}

// Each channel's κ and max(λ, 1e-4) (floored in λ's own dtype, as
// torch.clamp) in the compute type T, from parameters of any float dtype.
template <typename T>
std::vector<Channel<T>> channel_constants(const at::Tensor& lambda,
                                          const at::Tensor& kappa) {
  const int64_t channels = lambda.numel();
  std::vector<Channel<T>> out(channels);
  const auto lam = lambda.contiguous();
  const auto kap = kappa.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, lam.scalar_type(), "apa_lambda", [&] {
        const scalar_t* lp = lam.const_data_ptr<scalar_t>();
        for (int64_t c = 0; c < channels; ++c) {
          const T value =
              T(lp[c] < scalar_t(kLambdaMin) ? scalar_t(kLambdaMin) : lp[c]);
          out[c].lambda = value;
          out[c].log_lambda = std::log(value);
          out[c].inv_lambda = T(1) / value;
        }
      });
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, kap.scalar_type(), "apa_kappa", [&] {
        const scalar_t* kp = kap.const_data_ptr<scalar_t>();
        for (int64_t c = 0; c < channels; ++c) out[c].kappa = T(kp[c]);
      });
  return out;
}

// ∂L/∂λ = Σ g·∂out/∂λ·λ² / λ² (0 below the floor, as torch.clamp's
// gradient) and ∂L/∂κ, from per-channel float64 sums, in the parameters'
// dtypes and shapes.
template <typename T>
std::tuple<at::Tensor, at::Tensor> parameter_grads(
    const std::vector<double>& lambda_sums, const std::vector<double>& kappa_sums,
    const std::vector<Channel<T>>& consts, const at::Tensor& lambda,
    const at::Tensor& kappa) {
  const int64_t channels = lambda.numel();
  const auto lam = lambda.contiguous();
  auto grad_lambda = at::empty(lambda.sizes(), lambda.options());
  auto grad_kappa = at::empty(kappa.sizes(), kappa.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, lam.scalar_type(), "apa_grad_lambda", [&] {
        const scalar_t* lp = lam.const_data_ptr<scalar_t>();
        scalar_t* gp = grad_lambda.data_ptr<scalar_t>();
        for (int64_t c = 0; c < channels; ++c) {
          const double floored = double(consts[c].lambda);
          gp[c] = lp[c] >= scalar_t(kLambdaMin)
                      ? scalar_t(lambda_sums[c] / (floored * floored))
                      : scalar_t(0);
        }
      });
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, kappa.scalar_type(), "apa_grad_kappa", [&] {
        scalar_t* gp = grad_kappa.data_ptr<scalar_t>();
        for (int64_t c = 0; c < channels; ++c) gp[c] = scalar_t(kappa_sums[c]);
      });
  return {grad_lambda, grad_kappa};
}

template <typename T>
ChannelArrays<T> channel_arrays(const std::vector<Channel<T>>& consts) {
  ChannelArrays<T> arrays;
  for (const auto& c : consts) {
    arrays.kappa.push_back(c.kappa);
    arrays.log_lambda.push_back(c.log_lambda);
    arrays.inv_lambda.push_back(c.inv_lambda);
  }
  return arrays;
}

// Channels last: per-channel λ, κ on an input whose channels are its
// innermost dimension ((N, C) logits, or (B·L, C, 1) tokens): rows of one
// channel would be single elements, so rows are tokens of C channels.
bool channels_last(const Rows& rows) {
  return rows.channels > 1 && rows.inner == 1;
}

// fn(token, start) for every token of C channels, tokens split over
// threads; then fn sees [start, start + C).
template <typename F>
void for_each_token(int64_t tokens, int64_t channels, const F& fn) {
  const int64_t grain = std::max<int64_t>(1, kGrainElements / channels);
  at::parallel_for(0, tokens, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(t, t * channels);
  });
}

// A shape as Python prints it: (2, 3, 5, 5).
std::string shape_string(at::IntArrayRef sizes) {
  std::string out = "(";
  for (size_t i = 0; i < sizes.size(); ++i)
    out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + (sizes.size() == 1 ? ",)" : ")");
}

void check_inputs(const at::Tensor& x, const at::Tensor& lambda,
                  const at::Tensor& kappa) {
  TORCH_CHECK(x.device().is_cpu() && lambda.device().is_cpu() &&
                  kappa.device().is_cpu(),
              "apa_mmdet CPU kernel got tensors on ", x.device(), " (input), ",
              lambda.device(), " (lambda_param) and ", kappa.device(),
              " (kappa_param)");
  TORCH_CHECK_VALUE(lambda.dim() == 1 && kappa.dim() == 1 &&
                        lambda.numel() == kappa.numel() && lambda.numel() >= 1,
                    "lambda_param and kappa_param must be 1-D of equal size, "
                    "got shapes ", shape_string(lambda.sizes()), " and ",
                    shape_string(kappa.sizes()));
  TORCH_CHECK_VALUE(
      lambda.numel() == 1 || (x.dim() >= 2 && x.size(1) == lambda.numel()),
      "input of shape ", shape_string(x.sizes()),
      " does not match num_parameters=", lambda.numel(),
      ": per-channel APA needs ", lambda.numel(), " channels in dimension 1");
}

// act is "apa" or "aglu" (AGLU(z) = z·APA(z)).
bool is_aglu(c10::string_view act) {
  TORCH_CHECK_VALUE(act == "apa" || act == "aglu",
              "apa_mmdet: act must be 'apa' or 'aglu', got '", act, "'");
  return act == "aglu";
}

at::Tensor apa_forward(const at::Tensor& input, const at::Tensor& lambda,
                       const at::Tensor& kappa, c10::string_view act) {
  check_inputs(input, lambda, kappa);
  const bool aglu = is_aglu(act);
  const auto x = input.contiguous();
  auto out = at::empty_like(x);
  const Rows rows = make_rows(x, lambda.numel());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "apa_forward", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        const auto consts = channel_constants<opmath_t>(lambda, kappa);
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        scalar_t* op = out.data_ptr<scalar_t>();
        if (channels_last(rows)) {
          const auto arrays = channel_arrays(consts);
          const int64_t channels = rows.channels;
          for_each_token(rows.count / channels, channels, [&](int64_t,
                                                              int64_t start) {
            if constexpr (std::is_same_v<scalar_t, opmath_t>) {
              forward_channels(reinterpret_cast<const opmath_t*>(xp) + start,
                               reinterpret_cast<opmath_t*>(op) + start,
                               channels, 0, arrays, aglu);
            } else {
              opmath_t xb[kBufferLength], ob[kBufferLength];
              for (int64_t i = 0; i < channels; i += kBufferLength) {
                const int64_t m = std::min(kBufferLength, channels - i);
                for (int64_t k = 0; k < m; ++k) xb[k] = opmath_t(xp[start + i + k]);
                forward_channels(xb, ob, m, i, arrays, aglu);
                for (int64_t k = 0; k < m; ++k) op[start + i + k] = scalar_t(ob[k]);
              }
            }
          });
          return;
        }
        for_each_row(rows, [&](int64_t, int64_t start, int64_t n,
                               int64_t channel) {
            const auto& c = consts[channel];
            if constexpr (std::is_same_v<scalar_t, opmath_t>) {
              // (a no-op cast: the branch only runs for float/double)
              forward_span(reinterpret_cast<const opmath_t*>(xp) + start,
                           reinterpret_cast<opmath_t*>(op) + start, n, c, aglu);
            } else {
              opmath_t xb[kBufferLength], ob[kBufferLength];
              for (int64_t i = 0; i < n; i += kBufferLength) {
                const int64_t m = std::min(kBufferLength, n - i);
                for (int64_t k = 0; k < m; ++k) xb[k] = opmath_t(xp[start + i + k]);
                forward_span(xb, ob, m, c, aglu);
                for (int64_t k = 0; k < m; ++k) op[start + i + k] = scalar_t(ob[k]);
              }
            }
        });
      });
  return out;
}

// fn(g, x, grad_x, m, i) over [i, i + m) chunks of n elements, in the
// compute type opmath_t: the arrays themselves when they are of that type,
// else through buffers of kBufferLength (16-bit inputs).
template <typename opmath_t, typename scalar_t, typename F>
void in_compute_type(const scalar_t* g, const scalar_t* x, scalar_t* grad_x,
                     int64_t n, const F& fn) {
  if constexpr (std::is_same_v<scalar_t, opmath_t>) {
    fn(g, x, grad_x, n, 0);
  } else {
    opmath_t gb[kBufferLength], xb[kBufferLength], ob[kBufferLength];
    for (int64_t i = 0; i < n; i += kBufferLength) {
      const int64_t m = std::min(kBufferLength, n - i);
      for (int64_t k = 0; k < m; ++k) {
        xb[k] = opmath_t(x[i + k]);
        gb[k] = opmath_t(g[i + k]);
      }
      fn(gb, xb, ob, m, i);
      for (int64_t k = 0; k < m; ++k) grad_x[i + k] = scalar_t(ob[k]);
    }
  }
}

// The λ and κ terms of channels-last inputs: tokens in blocks, each
// block's per-channel sums in the compute dtype, the blocks' added in
// float64 in block order; writes grad_x.
template <typename scalar_t, typename opmath_t>
void backward_channels_last(const scalar_t* gp, const scalar_t* xp,
                            scalar_t* gxp, const Rows& rows,
                            const std::vector<Channel<opmath_t>>& consts,
                            bool aglu, std::vector<double>& lambda_sums,
                            std::vector<double>& kappa_sums) {
  const int64_t channels = rows.channels;
  const int64_t tokens = rows.count / channels;
  const int64_t block = std::max<int64_t>(1, kGrainElements / channels);
  const int64_t blocks = (tokens + block - 1) / block;
  const auto arrays = channel_arrays(consts);
  std::vector<double> block_lambda(blocks * channels),
      block_kappa(blocks * channels);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<opmath_t> acc_lambda(channels), acc_kappa(channels);
    for (int64_t b = begin; b < end; ++b) {
      std::fill(acc_lambda.begin(), acc_lambda.end(), opmath_t(0));
      std::fill(acc_kappa.begin(), acc_kappa.end(), opmath_t(0));
      for (int64_t t = b * block; t < std::min(tokens, (b + 1) * block); ++t) {
        const int64_t start = t * channels;
        in_compute_type<opmath_t>(
            gp + start, xp + start, gxp + start, channels,
            [&](const opmath_t* g, const opmath_t* x, opmath_t* grad_x,
                int64_t m, int64_t i) {
              backward_channels(g, x, grad_x, m, i, arrays, aglu,
                                acc_lambda.data() + i, acc_kappa.data() + i);
            });
      }
      for (int64_t c = 0; c < channels; ++c) {
        block_lambda[b * channels + c] = acc_lambda[c];
        block_kappa[b * channels + c] = acc_kappa[c];
      }
    }
  });
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < channels; ++c) {
      lambda_sums[c] += block_lambda[b * channels + c];
      kappa_sums[c] += block_kappa[b * channels + c];
    }
}

// The λ and κ terms of rows of one channel (or chunks, scalar λ, κ): one
// float64 sum per row, added per channel in row order; writes grad_x.
template <typename scalar_t, typename opmath_t>
void backward_rows(const scalar_t* gp, const scalar_t* xp, scalar_t* gxp,
                   const Rows& rows,
                   const std::vector<Channel<opmath_t>>& consts, bool aglu,
                   std::vector<double>& lambda_sums,
                   std::vector<double>& kappa_sums) {
  using V = Vectorized<opmath_t>;
  std::vector<double> row_lambda(rows.count), row_kappa(rows.count);
  for_each_row(rows, [&](int64_t r, int64_t start, int64_t n, int64_t channel) {
    const auto& c = consts[channel];
    V acc_lambda(opmath_t(0)), acc_kappa(opmath_t(0));
    in_compute_type<opmath_t>(
        gp + start, xp + start, gxp + start, n,
        [&](const opmath_t* g, const opmath_t* x, opmath_t* grad_x, int64_t m,
            int64_t) {
          backward_span(g, x, grad_x, m, c, aglu, acc_lambda, acc_kappa);
        });
    row_lambda[r] = lane_sum(acc_lambda);
    row_kappa[r] = lane_sum(acc_kappa);
  });
  for (int64_t r = 0; r < rows.count; ++r) {
    lambda_sums[r % rows.channels] += row_lambda[r];
    kappa_sums[r % rows.channels] += row_kappa[r];
  }
}

// (∂L/∂x, ∂L/∂λ, ∂L/∂κ): ∂L/∂x like the input, the parameter gradients
// like the parameters (see parameter_grads).
std::tuple<at::Tensor, at::Tensor, at::Tensor> apa_backward(
    const at::Tensor& grad_out, const at::Tensor& input,
    const at::Tensor& lambda, const at::Tensor& kappa, c10::string_view act) {
  check_inputs(input, lambda, kappa);
  const bool aglu = is_aglu(act);
  TORCH_CHECK_VALUE(grad_out.sizes() == input.sizes(),
                    "apa_mmdet: the output gradient has shape ",
                    shape_string(grad_out.sizes()), ", the input ",
                    shape_string(input.sizes()));
  const auto x = input.contiguous();
  const auto grad = grad_out.to(x.scalar_type()).contiguous();
  auto grad_x = at::empty_like(x);
  const Rows rows = make_rows(x, lambda.numel());
  std::tuple<at::Tensor, at::Tensor, at::Tensor> result;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "apa_backward", [&] {
        using opmath_t = at::opmath_type<scalar_t>;
        const auto consts = channel_constants<opmath_t>(lambda, kappa);
        std::vector<double> lambda_sums(lambda.numel()),
            kappa_sums(lambda.numel());
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        const scalar_t* gp = grad.const_data_ptr<scalar_t>();
        scalar_t* gxp = grad_x.data_ptr<scalar_t>();
        if (channels_last(rows))
          backward_channels_last(gp, xp, gxp, rows, consts, aglu, lambda_sums,
                                 kappa_sums);
        else
          backward_rows(gp, xp, gxp, rows, consts, aglu, lambda_sums,
                        kappa_sums);
        auto [grad_lambda, grad_kappa] =
            parameter_grads(lambda_sums, kappa_sums, consts, lambda, kappa);
        result = {grad_x, grad_lambda, grad_kappa};
      });
  return result;
}

at::Tensor forward_function(const at::Tensor& x, const at::Tensor& lambda,
                            const at::Tensor& kappa, const std::string& act) {
  return apa_forward(x, lambda, kappa, act);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_function(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& lambda,
    const at::Tensor& kappa, const std::string& act) {
  return apa_backward(grad, x, lambda, kappa, act);
}

// APA/AGLU with its analytic backward, saving only x, λ and κ.
struct ActivationFunction
    : public torch::autograd::Function<ActivationFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, const at::Tensor& lambda,
                            const at::Tensor& kappa, const std::string& act) {
    ctx->save_for_backward({x, lambda, kappa});
    ctx->saved_data["act"] = act;
    return apa_forward(x, lambda, kappa, act);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto act = ctx->saved_data["act"].toStringRef();
    auto [grad_x, grad_lambda, grad_kappa] =
        apa_backward(grads[0], saved[0], saved[1], saved[2], act);
    return {grad_x, grad_lambda, grad_kappa, at::Tensor()};
  }
};

at::Tensor differentiable_function(const at::Tensor& x,
                                   const at::Tensor& lambda,
                                   const at::Tensor& kappa,
                                   const std::string& act) {
  return ActivationFunction::apply(x, lambda, kappa, act);
}

}  // namespace

TORCH_LIBRARY(apa_mmdet, m) {
  m.def("apa_forward(Tensor x, Tensor lambda_, Tensor kappa, str act) -> Tensor");
  m.def(
      "apa_backward(Tensor grad, Tensor x, Tensor lambda_, Tensor kappa, "
      "str act) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(apa_mmdet, CPU, m) {
  m.impl("apa_forward", &apa_forward);
  m.impl("apa_backward", &apa_backward);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward_function, "APA or AGLU of x",
        py::call_guard<py::gil_scoped_release>());
  m.def("differentiable", &differentiable_function,
        "APA or AGLU of x, with autograd",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &backward_function,
        "(grad_x, grad_lambda, grad_kappa) of APA or AGLU",
        py::call_guard<py::gil_scoped_release>());
}
