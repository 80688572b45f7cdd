#!/usr/bin/env python3
"""Writes tests/data/vlb_reference.safetensors: reference numbers for the variational bound (Ho et al.
2020, eq. 5) and the learned variances and hybrid loss of Nichol & Dhariwal 2021, computed with the
formulas of improved-diffusion (improved_diffusion/losses.py and gaussian_diffusion.py) written out
below in PyTorch, in float64. tests/test_diffusion_vlb_reference.cpp compares diffusion/losses.hpp and
GaussianDiffusion with them, so that test needs no PyTorch.

Run once, from any directory, with Debian's python3-torch (and the python3-mpmath it brings) and
nothing else, then commit the file:

    /usr/bin/python3 tests/data/make_vlb_reference.py

The output is the same on every run (fixed seeds, CPU, float64). It is written in the safetensors
format by hand, with struct and json, as tests/data/make_reference.py does.

Where improved-diffusion's code differs from a literal float64 transcription, it is noted: it gathers
its coefficients with .float() (float32); here every table stays float64.

improved-diffusion's decoder computes Phi(hi) - Phi(lo) and 1 - Phi(lo) directly, which loses the
relative precision of a bin probability p far in a tail (an absolute error of ~1e-16 on p). The
inputs of the cases that use its formula are therefore kept where p >= 1e-4 or p < 1e-13 (clamped to
1e-12 either way), and every decoder value and gradient recorded is checked here against the same
formula evaluated with 50 digits (mpmath). The case `dgll_tail` holds bins deep in the tails, where
that formula in float64 is wrong in the leading digits; its reference is the 50-digit evaluation.

Cases (every tensor float64 unless noted):
  kl.*          normal_kl on broadcast shapes, its output and the gradients of sum(out * cotangent)
  dgll.*        discretized_gaussian_log_likelihood, output and gradients w.r.t. means and log_scales,
                and dgll.exact_*, the same in 50 digits
  dgll_tail.*   the same deep in the tails and at tiny scales (50-digit reference)
  vlb.*         a linear schedule (T = 1000, beta 1e-4 .. 0.02), eps objective, B = 4, t = [0, 1, 500, 999]:
                x0, noise, x_t, the model output [4, 2, 8, 8] (eps, then v), learned-range
                p_mean_variance, vb_terms_bpd, prior_bpd, the hybrid (RESCALED_MSE) and vlb (RESCALED_KL)
                losses and their gradients w.r.t. the model output
  fixed.*       vb_terms_bpd with fixed variances (model output [4, 1, 8, 8]), clipped and not, and its
                gradient: fixed_small (beta-tilde) and fixed_large (beta, with log beta-tilde_1 at t = 0)
  respace<S>.*  space_timesteps(1000, [S]) (int64) and the betas of the respaced chain
"""
import math
import os
import sys

import mpmath
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_writer import write_and_check  # noqa: E402

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vlb_reference.safetensors")
F64 = torch.float64

torch.use_deterministic_algorithms(True)
gen = torch.Generator().manual_seed(20210218)  # Nichol & Dhariwal's arXiv date

tensors = {}   # name -> tensor, in the order they were made
metadata = {}  # string -> string


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().contiguous().clone()


def rand(*shape):
    return torch.rand(*shape, dtype=F64, generator=gen)


def randn(*shape):
    return torch.randn(*shape, dtype=F64, generator=gen)


def mean_flat(x):
    return x.mean(dim=list(range(1, x.dim())))


# ---- improved_diffusion/losses.py ------------------------------------------------------------------
def normal_kl(mean1, logvar1, mean2, logvar2):
    tensor = next(o for o in (mean1, logvar1, mean2, logvar2) if isinstance(o, torch.Tensor))
    logvar1, logvar2 = [x if isinstance(x, torch.Tensor) else torch.tensor(x).to(tensor) for x in (logvar1, logvar2)]
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + ((mean1 - mean2) ** 2) * torch.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(x, *, means, log_scales):
    assert x.shape == means.shape == log_scales.shape
    centered_x = x - means
    inv_stdv = torch.exp(-log_scales)
    plus_in = inv_stdv * (centered_x + 1.0 / 255.0)
    cdf_plus = approx_standard_normal_cdf(plus_in)
    min_in = inv_stdv * (centered_x - 1.0 / 255.0)
    cdf_min = approx_standard_normal_cdf(min_in)
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(x < -0.999, log_cdf_plus,
                       torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12))))


# ---- the decoder in 50 digits: value and gradients, element by element ------------------------------
mpmath.mp.dps = 50
MP_C = mpmath.sqrt(2 / mpmath.pi)


def mp_cdf(u):
    return (1 + mpmath.tanh(MP_C * (u + mpmath.mpf("0.044715") * u ** 3))) / 2


def mp_pdf(u):  # d/du of mp_cdf
    z = MP_C * (u + mpmath.mpf("0.044715") * u ** 3)
    return mpmath.sech(z) ** 2 / 2 * MP_C * (1 + 3 * mpmath.mpf("0.044715") * u ** 2)


def mp_upper(u):  # 1 - mp_cdf(u), without cancellation: (1 - tanh z) / 2 = 1 / (1 + exp(2 z))
    z = MP_C * (u + mpmath.mpf("0.044715") * u ** 3)
    return 1 / (1 + mpmath.exp(2 * z))


def mp_lower(u):  # mp_cdf(u) = 1 / (1 + exp(-2 z)), without cancellation
    z = MP_C * (u + mpmath.mpf("0.044715") * u ** 3)
    return 1 / (1 + mpmath.exp(-2 * z))


def mp_dgll(x, mean, log_scale):
    """(log p, d log p / d mean, d log p / d log_scale, p) of one element, exactly (50 digits)."""
    x, mean, ls = mpmath.mpf(x), mpmath.mpf(mean), mpmath.mpf(log_scale)
    s = mpmath.exp(ls)
    hi = (x - mean + mpmath.mpf(1) / 255) / s
    lo = (x - mean - mpmath.mpf(1) / 255) / s
    # d hi / d mean = -1/s, d hi / d ls = -hi (and likewise for lo)
    if x < -0.999:
        p = mp_lower(hi)
        dp_dm, dp_dls = -mp_pdf(hi) / s, -mp_pdf(hi) * hi
    elif x > 0.999:
        p = mp_upper(lo)
        dp_dm, dp_dls = mp_pdf(lo) / s, mp_pdf(lo) * lo
    else:
        p = mp_upper(lo) - mp_upper(hi) if x >= mean else mp_lower(hi) - mp_lower(lo)
        dp_dm = -(mp_pdf(hi) - mp_pdf(lo)) / s
        dp_dls = -(mp_pdf(hi) * hi - mp_pdf(lo) * lo)
    if p < mpmath.mpf("1e-12"):  # clamp(min=1e-12): constant, no gradient
        return math.log(1e-12), 0.0, 0.0, float(p)
    return float(mpmath.log(p)), float(dp_dm / p), float(dp_dls / p), float(p)


def exact_dgll(x, means, log_scales):
    """The 50-digit decoder on float64 tensors of one shape: (out, d/dmeans, d/dlog_scales, p)."""
    rows = [mp_dgll(a, b, c) for a, b, c in zip(x.reshape(-1).tolist(), means.reshape(-1).tolist(),
                                                 log_scales.reshape(-1).tolist())]
    return [torch.tensor([r[i] for r in rows], dtype=F64).reshape(x.shape) for i in range(4)]


def well_conditioned(p):
    """Bins where the float64 formula of improved-diffusion keeps ~12 digits: p >= 1e-4, or p < 1e-13 (the
    computed value then lies below the 1e-12 floor too, whatever its rounding)."""
    return (p >= 1e-4) | (p < 1e-13)


def rel_err(a, b):
    return ((a - b).abs() / (1.0 + b.abs())).max().item()


def check_decoder(case, x, means, log_scales, tol=1e-12):
    """improved-diffusion's float64 decoder (value and gradients) against the 50-digit one."""
    m, ls = means.clone().requires_grad_(True), log_scales.clone().requires_grad_(True)
    out = discretized_gaussian_log_likelihood(x, means=m, log_scales=ls)
    out.sum().backward()
    ex_out, ex_dm, ex_dls, _ = exact_dgll(x, means, log_scales)
    errs = [rel_err(out.detach(), ex_out), rel_err(m.grad, ex_dm), rel_err(ls.grad, ex_dls)]
    print(f"{case}: improved-diffusion's float64 decoder within {max(errs):.1e} of 50 digits "
          f"(value {errs[0]:.1e}, d/dmeans {errs[1]:.1e}, d/dlog_scales {errs[2]:.1e})")
    assert max(errs) < tol, (case, errs)


# ---- improved_diffusion/gaussian_diffusion.py (eps objective) ----------------------------------------
class Diffusion:
    """The tables and the functions of improved-diffusion's GaussianDiffusion, float64 throughout.
    var_type: learned_range | fixed_small (beta-tilde) | fixed_large (improved-diffusion's: log variance
    log beta-tilde_1 at t = 0, log beta_t elsewhere) | beta (log beta_t at every t, t = 0 included)."""

    def __init__(self, betas, var_type):
        self.var_type = var_type
        betas = np.array(betas, dtype=np.float64)
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    @staticmethod
    def extract(arr, t, shape):  # _extract_into_tensor, without its .float()
        res = torch.from_numpy(np.asarray(arr, dtype=np.float64))[t]
        while res.dim() < len(shape):
            res = res[..., None]
        return res.expand(shape)

    def q_mean_variance(self, x_start, t):
        mean = self.extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
        return mean, self.extract(self.log_one_minus_alphas_cumprod, t, x_start.shape)

    def q_sample(self, x_start, t, noise):
        return (self.extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + self.extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def q_posterior_mean_variance(self, x_start, x_t, t):
        mean = (self.extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
                + self.extract(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        return mean, self.extract(self.posterior_log_variance_clipped, t, x_t.shape)

    def p_mean_variance(self, model_output, x, t, clip_denoised):
        B, C = x.shape[:2]
        if self.var_type == "learned_range":
            assert model_output.shape == (B, C * 2, *x.shape[2:])
            model_output, model_var_values = torch.split(model_output, C, dim=1)
            min_log = self.extract(self.posterior_log_variance_clipped, t, x.shape)
            max_log = self.extract(np.log(self.betas), t, x.shape)
            frac = (model_var_values + 1) / 2
            model_log_variance = frac * max_log + (1 - frac) * min_log
        else:
            log_variance = {
                "fixed_large": np.log(np.append(self.posterior_variance[1], self.betas[1:])),
                "fixed_small": self.posterior_log_variance_clipped,
                "beta": np.log(self.betas),
            }[self.var_type]
            model_log_variance = self.extract(log_variance, t, x.shape)
        pred_xstart = (self.extract(self.sqrt_recip_alphas_cumprod, t, x.shape) * x
                       - self.extract(self.sqrt_recipm1_alphas_cumprod, t, x.shape) * model_output)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        model_mean, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return {"mean": model_mean, "log_variance": model_log_variance, "pred_xstart": pred_xstart}

    def vb_terms_bpd(self, model_output, x_start, x_t, t, clip_denoised):
        true_mean, true_log_variance_clipped = self.q_posterior_mean_variance(x_start, x_t, t)
        out = self.p_mean_variance(model_output, x_t, t, clip_denoised)
        kl = mean_flat(normal_kl(true_mean, true_log_variance_clipped, out["mean"], out["log_variance"])) / np.log(2.0)
        decoder_nll = -discretized_gaussian_log_likelihood(x_start, means=out["mean"],
                                                           log_scales=0.5 * out["log_variance"])
        decoder_nll = mean_flat(decoder_nll) / np.log(2.0)
        return torch.where(t == 0, decoder_nll, kl), out

    def prior_bpd(self, x_start):
        t = torch.tensor([self.num_timesteps - 1] * x_start.shape[0])
        qt_mean, qt_log_variance = self.q_mean_variance(x_start, t)
        return mean_flat(normal_kl(qt_mean, qt_log_variance, 0.0, 0.0)) / np.log(2.0)

    def training_losses(self, model_output, x_start, t, noise, loss_type):
        """loss_type rescaled_mse (with learned_range: the hybrid loss) or rescaled_kl. The model is the
        fixed tensor model_output, whatever its input."""
        x_t = self.q_sample(x_start, t, noise)
        terms = {}
        if loss_type == "rescaled_kl":
            terms["loss"] = self.vb_terms_bpd(model_output, x_start, x_t, t, clip_denoised=False)[0]
            terms["loss"] = terms["loss"] * self.num_timesteps
            return terms
        assert loss_type == "rescaled_mse" and self.var_type == "learned_range"
        B, C = x_t.shape[:2]
        model_output, model_var_values = torch.split(model_output, C, dim=1)
        frozen_out = torch.cat([model_output.detach(), model_var_values], dim=1)
        terms["vb"] = self.vb_terms_bpd(frozen_out, x_start, x_t, t, clip_denoised=False)[0]
        terms["vb"] = terms["vb"] * (self.num_timesteps / 1000.0)
        terms["mse"] = mean_flat((noise - model_output) ** 2)
        terms["loss"] = terms["mse"] + terms["vb"]
        return terms


def space_timesteps(num_timesteps, section_counts):  # improved_diffusion/respace.py, list counts only
    size_per = num_timesteps // len(section_counts)
    extra = num_timesteps % len(section_counts)
    start_idx = 0
    all_steps = []
    for i, section_count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        assert size >= section_count
        frac_stride = 1 if section_count <= 1 else (size - 1) / (section_count - 1)
        cur_idx = 0.0
        for _ in range(section_count):
            all_steps.append(start_idx + round(cur_idx))
            cur_idx += frac_stride
        start_idx += size
    return set(all_steps)


def spaced_betas(base, use_timesteps):  # SpacedDiffusion.__init__
    last_alpha_cumprod, new_betas = 1.0, []
    for i, alpha_cumprod in enumerate(base.alphas_cumprod):
        if i in use_timesteps:
            new_betas.append(1 - alpha_cumprod / last_alpha_cumprod)
            last_alpha_cumprod = alpha_cumprod
    return np.array(new_betas)


def quantized(k):
    """uint8 levels k (int64 tensor) as improved-diffusion's data: k / 127.5 - 1, exactly -1 and 1 at the ends."""
    return k.to(F64) / 127.5 - 1.0


# ---- 1. normal_kl on broadcast shapes -----------------------------------------------------------------
kl_inputs = {"mean1": randn(2, 3, 4, 4), "logvar1": rand(2, 1, 1, 1) * 4.0 - 3.0,
             "mean2": randn(2, 3, 4, 4), "logvar2": rand(2, 3, 4, 4) * 4.0 - 3.0}
leaves = {k: v.clone().requires_grad_(True) for k, v in kl_inputs.items()}
out = normal_kl(**leaves)
cotangent = randn(*out.shape)
(out * cotangent).sum().backward()
for k, v in kl_inputs.items():
    put(f"kl.{k}", v)
put("kl.out", out)
put("kl.cotangent", cotangent)
for k, v in leaves.items():
    put(f"kl.grad_{k}", v.grad)
metadata["kl"] = "normal_kl(mean1, logvar1, mean2, logvar2); grad_* of sum(out * cotangent)"


# ---- 2. the discretized Gaussian decoder ---------------------------------------------------------------
def decoder_case(case, x, means, log_scales, exact_reference):
    leaves = {"means": means.clone().requires_grad_(True), "log_scales": log_scales.clone().requires_grad_(True)}
    out = discretized_gaussian_log_likelihood(x, **leaves)
    cotangent = randn(*out.shape)
    (out * cotangent).sum().backward()
    grads = {k: v.grad for k, v in leaves.items()}
    ex_out, ex_dm, ex_dls, p = exact_dgll(x, means, log_scales)
    if exact_reference:  # the float64 formula is not accurate here: the reference is the 50-digit one
        print(f"{case}: improved-diffusion's float64 decoder is {rel_err(out.detach(), ex_out):.1e} from 50 digits "
              f"(d/dmeans {rel_err(grads['means'], ex_dm * cotangent):.1e}); recording the 50-digit values")
        out, grads = ex_out, {"means": ex_dm * cotangent, "log_scales": ex_dls * cotangent}
    else:
        check_decoder(case, x, means, log_scales)
    put(f"{case}.x", x)
    if not exact_reference:  # the 50-digit values beside improved-diffusion's float64 ones
        put(f"{case}.exact_out", ex_out)
        put(f"{case}.exact_grad_means", ex_dm * cotangent)
        put(f"{case}.exact_grad_log_scales", ex_dls * cotangent)
    put(f"{case}.means", means)
    put(f"{case}.log_scales", log_scales)
    put(f"{case}.out", out)
    put(f"{case}.cotangent", cotangent)
    for k, v in grads.items():
        put(f"{case}.grad_{k}", v)
    return p


# x: random uint8 levels with both ends present; half the means uniform in [-1.2, 1.2], half within a few
# scales of x; scales log-uniform in [0.01, 0.5]. Means in bins improved-diffusion's float64 formula
# resolves badly (1e-13 <= p < 1e-4) are drawn again.
shape = (2, 2, 8, 8)
k = torch.randint(0, 256, shape, generator=gen)
k.view(-1)[:6] = torch.tensor([0, 255, 0, 255, 1, 254])
x = quantized(k)
log_scales = math.log(0.01) + rand(*shape) * (math.log(0.5) - math.log(0.01))
near = (torch.arange(x.numel()).reshape(shape) % 2) == 1


def draw_means(x, log_scales, near):
    far_means = rand(*x.shape) * 2.4 - 1.2
    near_means = (x + torch.exp(log_scales) * (rand(*x.shape) * 8.0 - 4.0)).clamp(-1.2, 1.2)
    return torch.where(near, near_means, far_means)


means = draw_means(x, log_scales, near)
for attempt in range(100):
    p = exact_dgll(x, means, log_scales)[3]
    bad = ~well_conditioned(p)
    if not bad.any():
        break
    means = torch.where(bad, draw_means(x, log_scales, near), means)
assert not bad.any()
p = decoder_case("dgll", x, means, log_scales, exact_reference=False)
print(f"dgll: {x.numel()} elements, {int((x == -1).sum())} at -1, {int((x == 1).sum())} at 1, "
      f"{int((p < 1e-12).sum())} clamped at 1e-12")
metadata["dgll"] = ("discretized_gaussian_log_likelihood(x, means, log_scales) of improved-diffusion in float64, "
                    "inputs where it keeps 12 digits; grad_* of sum(out * cotangent); exact_*: the same in 50 "
                    "digits (mpmath)")

# Deep tails and tiny scales: bins with p from ~1 down to below the floor, above the mean (the bin's lower
# edge lo = u scales above it) and below it (its upper edge hi = -u), at both edges, with scales from 1e-4
# (the bin 78 scales wide) to 2. tail: (level k, mean).
H_BIN = 1.0 / 255.0
tail = []
for u in [4.6, 5.5, 6.3, 6.9]:
    for s in [1e-4, 3e-3, 0.05, 0.7]:
        k = int(torch.randint(1, 255, (1,), generator=gen))
        xk = k / 127.5 - 1.0
        tail.append((k, xk - H_BIN - u * s, s))  # lo = u: the bin above the mean
        tail.append((k, xk + H_BIN + u * s, s))  # hi = -u: below it
for s in [1e-3, 0.02, 0.3, 2.0]:
    for u in [1.0, -0.5, -3.0, -6.0]:
        tail.append((0, -1.0 + H_BIN - u * s, s))   # x = -1: hi = u, p = Phi(u)
        tail.append((255, 1.0 - H_BIN + u * s, s))  # x = 1: lo = -u, p = 1 - Phi(-u)
tail_k = torch.tensor([t[0] for t in tail])
tail_x = quantized(tail_k)
tail_means = torch.tensor([t[1] for t in tail], dtype=F64)
tail_log_scales = torch.log(torch.tensor([t[2] for t in tail], dtype=F64))
p = decoder_case("dgll_tail", tail_x, tail_means, tail_log_scales, exact_reference=True)
print(f"dgll_tail: {tail_x.numel()} elements, p from {p.min().item():.1e} to {p.max().item():.2f}")
metadata["dgll_tail"] = ("discretized_gaussian_log_likelihood deep in the tails; out and grad_* (of sum(out * "
                         "cotangent)) from the same formula in 50 digits (mpmath), not from float64")

# ---- 3. the bound and the losses on a small batch -------------------------------------------------------
T = 1000
betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
learned = Diffusion(betas, "learned_range")
B, C, H, W = 4, 1, 8, 8
t = torch.tensor([0, 1, 500, 999])
k = torch.randint(0, 256, (B, C, H, W), generator=gen)
k.view(B, -1)[:, :2] = torch.tensor([0, 255])  # every image has both ends
x0 = quantized(k)
noise = randn(B, C, H, W)
x_t = learned.q_sample(x0, t, noise)
# A model that is off by half a standard deviation in eps (so that the decoder's bins at t = 0 lie within a
# few scales of its mean), and v uniform in [-1, 1].
eps = noise + 0.5 * randn(B, C, H, W)
v = rand(B, C, H, W) * 2.0 - 1.0
model_output = torch.cat([eps, v], dim=1)
for name, value in [("x0", x0), ("t", t), ("noise", noise), ("x_t", x_t), ("model_output", model_output)]:
    put(f"vlb.{name}", value)

out = learned.p_mean_variance(model_output, x_t, t, clip_denoised=False)
put("vlb.pmv_mean", out["mean"])
put("vlb.pmv_log_variance", out["log_variance"])
put("vlb.pmv_pred_x0", out["pred_xstart"])
check_decoder("vlb decoder at t = 0", x0[:1], out["mean"][:1], 0.5 * out["log_variance"][:1])
out_clip = learned.p_mean_variance(model_output, x_t, t, clip_denoised=True)
put("vlb.pmv_clip_mean", out_clip["mean"])
put("vlb.pmv_clip_pred_x0", out_clip["pred_xstart"])

vb, _ = learned.vb_terms_bpd(model_output, x0, x_t, t, clip_denoised=False)
put("vlb.vb_bpd", vb)
put("vlb.prior_bpd", learned.prior_bpd(x0))

leaf = model_output.clone().requires_grad_(True)
terms = learned.training_losses(leaf, x0, t, noise, "rescaled_mse")
terms["loss"].sum().backward()
put("vlb.hybrid_mse", terms["mse"])
put("vlb.hybrid_vb", terms["vb"])  # vb_bpd * T / 1000
put("vlb.hybrid_loss", terms["loss"])
put("vlb.hybrid_grad", leaf.grad)
assert torch.allclose(terms["vb"], vb * (T / 1000.0), rtol=1e-15, atol=0)
# The stop-gradient: the eps half learns from the mse alone.
assert torch.allclose(leaf.grad[:, :C], 2.0 * (eps - noise) / (C * H * W), rtol=1e-14, atol=0)

leaf = model_output.clone().requires_grad_(True)
terms = learned.training_losses(leaf, x0, t, noise, "rescaled_kl")
terms["loss"].sum().backward()
put("vlb.vlb_loss", terms["loss"])  # T * vb_bpd
put("vlb.vlb_grad", leaf.grad)
metadata["vlb"] = ("linear betas linspace(1e-4, 0.02, 1000), eps objective, learned_range variances; "
                   "model_output = cat([eps, v]); pmv_* p_mean_variance (clip_denoised False; pmv_clip_* True); "
                   "vb_bpd = _vb_terms_bpd(clip_denoised=False); hybrid_* training_losses(RESCALED_MSE), "
                   "hybrid_vb = vb_bpd * T / 1000; vlb_loss training_losses(RESCALED_KL) = T * vb_bpd; "
                   "*_grad = d sum(loss) / d model_output")

# Fixed variances: the eps half alone as the model output.
for var_type in ["fixed_small", "fixed_large"]:
    d = Diffusion(betas, var_type)
    for clip in [False, True]:
        leaf = eps.clone().requires_grad_(True)
        vb, out = d.vb_terms_bpd(leaf, x0, x_t, t, clip_denoised=clip)
        vb.sum().backward()
        case = f"fixed.{var_type}_{'clip' if clip else 'noclip'}"
        put(f"{case}.vb_bpd", vb)
        put(f"{case}.grad", leaf.grad)
        check_decoder(case + " decoder at t = 0", x0[:1], out["mean"][:1].detach(),
                      0.5 * out["log_variance"][:1].detach())
metadata["fixed"] = ("vb_terms_bpd (and d sum(vb_bpd) / d model_output) of model_output = vlb.model_output's eps "
                     "half; fixed_small: beta-tilde; fixed_large: improved-diffusion's, log variance "
                     "log(beta-tilde_1) at t = 0, log(beta_t) elsewhere")

# ---- 4. respacing ------------------------------------------------------------------------------------------
for S in [10, 7, 50]:
    keep = sorted(space_timesteps(T, [S]))
    ddim = np.round(np.linspace(0, T - 1, S)).astype(np.int64).tolist()  # round half to even
    assert keep == ddim, (S, keep, ddim)
    put(f"respace{S}.timesteps", torch.tensor(keep, dtype=torch.int64))
    put(f"respace{S}.betas", torch.from_numpy(spaced_betas(learned, set(keep))))
metadata["respace"] = ("respace<S>.timesteps = sorted(space_timesteps(1000, [S])) (= round(linspace(0, 999, S))), "
                       "respace<S>.betas: SpacedDiffusion's betas of the linear schedule")

metadata["generator"] = (f"tests/data/make_vlb_reference.py with torch {torch.__version__}, numpy {np.__version__}, "
                         f"mpmath {mpmath.__version__}")


write_and_check(OUT_PATH, tensors, metadata)
