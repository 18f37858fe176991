#!/usr/bin/env python3
"""Float64 numpy re-statement of ComfyUI's k-diffusion update rules, for a cross-check of the Java samplers.

Source read: comfyanonymous/ComfyUI comfy/k_diffusion/sampling.py (and deis.py for DEIS's 'tab' coefficients).
Every function below re-derives one ComfyUI sampler at eta and s_noise defaults; they are written anew (numpy, one
element vector, no torch) and keep ComfyUI's branch structure (which step is first order, which lands on the
prediction, when noise is drawn) because that structure is what the comparison is about.

The "model" is the exact denoiser of one-dimensional Gaussian data N(0, S^2), S = 0.7:
    variance exploding state x = x0 + s eps:        D(x, s) = x S^2 / (S^2 + s^2)
    rectified flow state   x = (1 - s) x0 + s eps:  D(x, s) = (1 - s) S^2 x / ((1 - s)^2 S^2 + s^2)

Replacements, so that both sides see the same numbers:
  * noise: ComfyUI's noise_sampler (torch.randn or the torchsde Brownian tree) is replaced by a deterministic
    stream. Its k-th call (k = 0, 1, ... over the whole run, in call order) returns, for element j,
    sqrt(2) * sin(1.7 k + 0.9 j + 0.3). For the Brownian-tree samplers (dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde) the
    tree increment over [s', s] normalised by sqrt(s - s') is one such draw; the bridge is not reproduced.
  * dpmpp_sde: ComfyUI asks the tree for the increments over [s_m, s] and [s', s] (s_m the stage). The Java draws
    two normals z1, z2 per step (z1 before the stage's denoiser call, z2 after it) and builds the second increment
    as the Brownian bridge would: n1 = z1, n2 = (sqrt(s - s_m) z1 + sqrt(s_m - s') z2) / sqrt(s - s'). This file
    reproduces that draw structure.
  * flow half log-SNR: ComfyUI moves a flow schedule's first level (1) to the model's percent_to_sigma(1e-4)
    (offset_first_sigma_for_snr) before its SDE / log-SNR samplers run, and evaluates the model there. The Java
    (Interpolant.RECTIFIED_FLOW.noiseToSignal) instead keeps the level 1 everywhere (model call, s'/s weights,
    Brownian times) and clamps s at 1 - 1e-4 only inside the half log-SNR lambda = ln((1 - s)/s). This file follows
    the Java convention: the schedule is not offset, lambda_fn clamps. (sample_dpmpp_2s_ancestral_RF has its own
    unclamped lambda and its fixed 0.9999 stage from s = 1; that is kept as ComfyUI writes it.)
  * sample_lms: scipy's quad of the Lagrange basis is replaced by its exact polynomial integral (the basis is of
    degree < 4; quad's Gauss-Kronrod rule is exact there up to rounding).
  * sample_deis: deis.py computes the VP time map and the 10000-point sum in torch float32; here in float64 (the
    same sum, the same points).
  * sample_heunpp2 draws torch.randn_like every step but uses it only with s_churn > 0; not drawn here.
  * res_multistep with eta 0 still calls noise_sampler (scale 0) on each step to a nonzero level; kept as a draw.

The CFG++ samplers (sample_euler_cfg_pp, sample_euler_ancestral_cfg_pp, sample_dpmpp_2m_cfg_pp,
sample_dpmpp_2s_ancestral_cfg_pp's variance-exploding branch, res_multistep with cfg_pp=True and eta 0,
sample_gradient_estimation_cfg_pp) read two predictions per model call: the guided one D (the model's return) and the
unconditional one D_u (captured by their post_cfg_function). Their model is a guided pair of Gaussian denoisers,
variance exploding only:
    D_u(x, s) = x S_u^2 / (S_u^2 + s^2),   D_c(x, s) = x S_c^2 / (S_c^2 + s^2),   D = D_u + w (D_c - D_u)
with S_u = 0.7, S_c = 0.9, w = 1.5 (CFG++ runs at scales near 1). Each call returns (D, D_u); like ComfyUI's
post_cfg_function, a call that only refreshes D_u (the stage of dpmpp_2s_ancestral_cfg_pp) still counts as a call.
sample_euler_cfg_pp is sample_euler_ancestral_cfg_pp at eta 0, s_noise 0: it draws no noise.

Run: python3 bench/comfy/comfy_reference.py  (writes
samplers/src/test/resources/comfy-reference/trajectories.json relative to the repository root).
"""

import json
import math
import os

import numpy as np

S = 0.7
X_UNIT = np.array([-2.5, -0.3, 0.8, 3.0])
FLOW_CLAMP = 1 - 1e-4


# ---------------------------------------------------------------------------------------------------------------
# model, noise, schedules


class Gaussian:
    """Exact x0 prediction for N(0, S^2) data in the chosen state ('ve' or 'flow')."""

    def __init__(self, space):
        self.space = space
        self.calls = 0

    def __call__(self, x, s):
        self.calls += 1
        if self.space == "ve":
            return x * (S * S / (S * S + s * s))
        a = 1.0 - s
        return x * (a * S * S / (a * a * S * S + s * s))


CFG_S_U, CFG_S_C, CFG_W = 0.7, 0.9, 1.5


class GuidedGaussian:
    """The CFG++ samplers' model (variance exploding): returns (D, D_u), D = D_u + w (D_c - D_u)."""

    space = "ve"

    def __init__(self):
        self.calls = 0

    def __call__(self, x, s):
        self.calls += 1
        du = x * (CFG_S_U * CFG_S_U / (CFG_S_U * CFG_S_U + s * s))
        dc = x * (CFG_S_C * CFG_S_C / (CFG_S_C * CFG_S_C + s * s))
        return du + CFG_W * (dc - du), du


class SinNoise:
    """The k-th draw is sqrt(2) sin(1.7 k + 0.9 j + 0.3) for element j."""

    def __init__(self, n):
        self.j = np.arange(n)
        self.k = 0

    def __call__(self, *_levels):
        v = math.sqrt(2.0) * np.sin(1.7 * self.k + 0.9 * self.j + 0.3)
        self.k += 1
        return v


def karras_levels(n, lo, hi, rho=7.0):
    ramp = np.linspace(0.0, 1.0, n)
    a, b = hi ** (1 / rho), lo ** (1 / rho)
    return np.append((a + ramp * (b - a)) ** rho, 0.0)


def shifted_flow_levels(n, shift=3.0):
    u = np.linspace(1.0, 0.0, n + 1)
    return shift * u / (1 + (shift - 1) * u)


# ---------------------------------------------------------------------------------------------------------------
# helpers shared by several samplers


def slope(x, s, x0):
    """Karras ODE derivative (x - D)/s (ComfyUI's to_d)."""
    return (x - x0) / s


def ve_split(s, t):
    """get_ancestral_step with eta = 1: (sigma_down, sigma_up)."""
    up = min(t, math.sqrt(t * t * (s * s - t * t) / (s * s)))
    return math.sqrt(t * t - up * up), up


def rf_split(s, t):
    """The _RF samplers' eta = 1 split: sigma_down, alpha ratio, renoise coefficient."""
    down = t * (1 + (t / s - 1))
    a_next, a_down = 1 - t, 1 - down
    renoise = math.sqrt(t * t - down * down * a_next * a_next / (a_down * a_down))
    return down, a_next / a_down, renoise


def half_log_snr(s, space):
    """sigma_to_half_log_snr, with the Java's flow clamp (see module doc). +inf at s = 0."""
    if s == 0:
        return math.inf
    if space == "ve":
        return -math.log(s)
    c = min(s, FLOW_CLAMP)
    return math.log((1 - c) / c)


def level_of(lam, space):
    """half_log_snr_to_sigma."""
    if space == "ve":
        return math.exp(-lam)
    return 1.0 / (1.0 + math.exp(lam))


# ---------------------------------------------------------------------------------------------------------------
# samplers; each takes (model, x, sigmas, noise) and returns the final state


def euler_ancestral(model, x, sig, noise):
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if model.space == "ve":
            down, up = ve_split(s, t)
            if down == 0:
                x = x0
            else:
                x = x + slope(x, s, x0) * (down - s) + noise(s, t) * up
        else:  # sample_euler_ancestral_RF
            if t == 0:
                x = x0
            else:
                down, ratio, renoise = rf_split(s, t)
                q = down / s
                x = q * x + (1 - q) * x0
                x = ratio * x + noise(s, t) * renoise
    return x


def dpm_2(model, x, sig, noise):
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        d = slope(x, s, model(x, s))
        if t == 0:
            x = x + d * (t - s)
        else:
            mid = math.exp(0.5 * (math.log(s) + math.log(t)))
            xm = x + d * (mid - s)
            dm = slope(xm, mid, model(xm, mid))
            x = x + dm * (t - s)
    return x


def dpm_2_ancestral(model, x, sig, noise):
    flow = model.space == "flow"
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if flow:
            down, ratio, renoise = rf_split(s, t)
        else:
            down, up = ve_split(s, t)
        d = slope(x, s, x0)
        if down == 0:
            x = x + d * (down - s)
            continue
        mid = math.exp(0.5 * (math.log(s) + math.log(down)))
        xm = x + d * (mid - s)
        dm = slope(xm, mid, model(xm, mid))
        x = x + dm * (down - s)
        if flow:
            x = ratio * x + noise(s, t) * renoise
        else:
            x = x + noise(s, t) * up
    return x


def _lagrange_integral(nodes, j, a, b):
    """Integral over [a, b] of the Lagrange basis polynomial of node j."""
    p = np.poly1d([1.0])
    for m, node in enumerate(nodes):
        if m != j:
            p = p * np.poly1d([1.0, -node]) / (nodes[j] - node)
    q = p.integ()
    return q(b) - q(a)


def lms(model, x, sig, noise, order=4):
    history = []
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        history.append(slope(x, s, x0))
        history = history[-order:]
        if t == 0:
            x = x0
            continue
        k = min(i + 1, order)
        nodes = [sig[i - m] for m in range(k)]
        step = 0.0
        for j in range(k):
            step = step + _lagrange_integral(nodes, j, s, t) * history[-1 - j]
        x = x + step
    return x


def dpmpp_2s_ancestral(model, x, sig, noise):
    flow = model.space == "flow"
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if not flow:
            down, up = ve_split(s, t)
            if down == 0:
                x = x + slope(x, s, x0) * (down - s)
            else:
                lam, lam_down = -math.log(s), -math.log(down)
                h = lam_down - lam
                mid = math.exp(-(lam + 0.5 * h))
                xm = (mid / s) * x - math.expm1(-0.5 * h) * x0
                x = (down / s) * x - math.expm1(-h) * model(xm, mid)
            if t > 0:
                x = x + noise(s, t) * up
        else:  # sample_dpmpp_2s_ancestral_RF
            down, ratio, renoise = rf_split(s, t)
            if t == 0:
                x = x + slope(x, s, x0) * (down - s)
            else:
                if s == 1.0:
                    mid = 0.9999
                else:
                    lam_i = math.log((1 - s) / s)
                    lam_down = math.log((1 - down) / down)
                    mid = 1.0 / (math.exp(lam_i + 0.5 * (lam_down - lam_i)) + 1)
                q = mid / s
                u = q * x + (1 - q) * x0
                x0m = model(u, mid)
                q = down / s
                x = q * x + (1 - q) * x0m
            if t > 0:
                x = ratio * x + noise(s, t) * renoise
    return x


def dpmpp_sde(model, x, sig, noise, r=0.5):
    sp = model.space
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if t == 0:
            x = x0
            continue
        lam_s, lam_t = half_log_snr(s, sp), half_log_snr(t, sp)
        h = lam_t - lam_s
        lam_m = lam_s + r * h
        fac = 1 / (2 * r)
        mid = level_of(lam_m, sp)
        a_s = s * math.exp(lam_s)
        a_m = mid * math.exp(lam_m)
        a_t = t * math.exp(lam_t)
        # the Java's Brownian draws for this step (module doc): z1 now, z2 after the stage's model call
        z1 = noise(s, mid)
        # stage
        sd, su = ve_split(math.exp(-lam_s), math.exp(-lam_m))
        hh = -math.log(sd) - lam_s
        xm = (a_m / a_s) * math.exp(-hh) * x - a_m * math.expm1(-hh) * x0
        xm = xm + a_m * z1 * su
        x0m = model(xm, mid)
        z2 = noise(s, t)
        n2 = (math.sqrt(s - mid) * z1 + math.sqrt(mid - t) * z2) / math.sqrt(s - t)
        # whole step
        sd, su = ve_split(math.exp(-lam_s), math.exp(-lam_t))
        hh = -math.log(sd) - lam_s
        mixed = (1 - fac) * x0 + fac * x0m
        x = (a_t / a_s) * math.exp(-hh) * x - a_t * math.expm1(-hh) * mixed
        x = x + a_t * n2 * su
    return x


def dpmpp_2m(model, x, sig, noise):
    prev = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        lam, lam_next = -math.log(s), (math.inf if t == 0 else -math.log(t))
        h = lam_next - lam
        if prev is None or t == 0:
            target = x0
        else:
            h_last = lam + math.log(sig[i - 1])
            w = 1 / (2 * (h_last / h))
            target = (1 + w) * x0 - w * prev
        x = (t / s) * x - math.expm1(-h) * target
        prev = x0
    return x


def dpmpp_2m_sde(model, x, sig, noise, solver="midpoint"):
    sp = model.space
    prev, h_last = None, None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        h = h_last
        if t == 0:
            x = x0
        else:
            lam_s, lam_t = half_log_snr(s, sp), half_log_snr(t, sp)
            h = lam_t - lam_s
            he = 2 * h  # eta = 1
            a_t = t * math.exp(lam_t)
            x = (t / s) * math.exp(-h) * x - a_t * math.expm1(-he) * x0
            if prev is not None:
                inv_r = h / h_last
                if solver == "heun":
                    x = x + a_t * (-math.expm1(-he) / (-he) + 1) * inv_r * (x0 - prev)
                else:
                    x = x + 0.5 * a_t * (-math.expm1(-he)) * inv_r * (x0 - prev)
            x = x + noise(s, t) * t * math.sqrt(-math.expm1(-2 * h))
        prev, h_last = x0, h
    return x


def dpmpp_2m_sde_heun(model, x, sig, noise):
    return dpmpp_2m_sde(model, x, sig, noise, solver="heun")


def dpmpp_3m_sde(model, x, sig, noise):
    sp = model.space
    x0_1 = x0_2 = None
    h = h1 = h2 = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if t == 0:
            x = x0
        else:
            lam_s, lam_t = half_log_snr(s, sp), half_log_snr(t, sp)
            h = lam_t - lam_s
            he = 2 * h
            a_t = t * math.exp(lam_t)
            x = (t / s) * math.exp(-h) * x - a_t * math.expm1(-he) * x0
            phi2 = math.expm1(-he) / he + 1
            if h2 is not None:
                r0, r1 = h1 / h, h2 / h
                d10 = (x0 - x0_1) / r0
                d11 = (x0_1 - x0_2) / r1
                d1 = d10 + (d10 - d11) * r0 / (r0 + r1)
                d2 = (d10 - d11) / (r0 + r1)
                phi3 = phi2 / he - 0.5
                x = x + a_t * phi2 * d1 - a_t * phi3 * d2
            elif h1 is not None:
                x = x + a_t * phi2 * (x0 - x0_1) / (h1 / h)
            x = x + noise(s, t) * t * math.sqrt(-math.expm1(-2 * h))
        x0_1, x0_2 = x0, x0_1
        h1, h2 = h, h1
    return x


_IPNDM_FIXED = [[1.0], [1.5, -0.5], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]]


def ipndm(model, x, sig, noise, max_order=4):
    past = []  # newest last
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        d = slope(x, s, x0)
        order = min(max_order, i + 1)
        if t == 0:
            nxt = x0
        else:
            c = _IPNDM_FIXED[order - 1]
            acc = c[0] * d
            for j in range(1, order):
                acc = acc + c[j] * past[-j]
            nxt = x + (t - s) * acc
        past = (past + [d])[-(max_order - 1):]
        x = nxt
    return x


def _ipndm_v_weights(order, hn, h1, h2, h3):
    if order == 2:
        return [(2 + hn / h1) / 2, -(hn / h1) / 2]
    t1 = (1 - hn / (3 * (hn + h1)) * (hn * (hn + h1)) / (h1 * (h1 + h2))) / 2
    if order == 3:
        return [(2 + hn / h1) / 2 + t1, -(hn / h1) / 2 - (1 + h1 / h2) * t1, t1 * h1 / h2]
    t2 = (((1 - hn / (3 * (hn + h1))) / 2 + (1 - hn / (2 * (hn + h1))) * hn / (6 * (hn + h1 + h2)))
          * (hn * (hn + h1) * (hn + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3)))
    g = h1 * (h1 + h2) / (h2 * (h2 + h3))
    return [(2 + hn / h1) / 2 + t1 + t2,
            -(hn / h1) / 2 - (1 + h1 / h2) * t1 - (1 + h1 / h2 + g) * t2,
            t1 * h1 / h2 + (h1 / h2 + g * (1 + h2 / h3)) * t2,
            -t2 * g * h1 / h2]


def ipndm_v(model, x, sig, noise, max_order=4):
    past = []
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        d = slope(x, s, x0)
        order = min(max_order, i + 1)
        if t == 0:
            nxt = x0
        elif order == 1:
            nxt = x + (t - s) * d
        else:
            hn = t - s
            h1 = s - sig[i - 1]
            h2 = sig[i - 1] - sig[i - 2] if order >= 3 else None
            h3 = sig[i - 2] - sig[i - 3] if order >= 4 else None
            w = _ipndm_v_weights(order, hn, h1, h2, h3)
            acc = w[0] * d
            for j in range(1, order):
                acc = acc + w[j] * past[-j]
            nxt = x + hn * acc
        past = (past + [d])[-(max_order - 1):]
        x = nxt
    return x


def _deis_tab(sig, max_order=3, n_points=10000, eps_s=1e-3, smin=0.002, smax=80.0):
    """deis.py's get_deis_coeff_list(deis_mode='tab') in float64."""
    ln_min, ln_max = math.log(smin * smin + 1), math.log(smax * smax + 1)
    beta_d = 2 * (ln_min / eps_s - ln_max) / (eps_s - 1)
    beta_min = ln_max - 0.5 * beta_d
    b0, b1 = beta_min, beta_d + beta_min
    ts = (np.sqrt(beta_min ** 2 + 2 * beta_d * np.log(np.asarray(sig) ** 2 + 1)) - beta_min) / beta_d
    table = []
    for i in range(len(ts) - 1):
        order = min(i + 1, max_order)
        if order == 1:
            table.append([])
            continue
        taus = np.linspace(ts[i], ts[i + 1], n_points)
        dtau = (ts[i + 1] - ts[i]) / n_points
        alpha = np.exp(-0.5 * taus ** 2 * (b1 - b0) - taus * b0)
        dlog_alpha = -taus * (b1 - b0) - b0
        # the interval ending at t = 0 (sigma 0) has an infinite weight at its end, as in deis.py; its row is
        # computed there too but never used (the step to 0 is Euler)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = -0.5 * dlog_alpha / np.sqrt(alpha * (1 - alpha))
        nodes = [ts[i - k] for k in range(order)]
        row = []
        for j in range(order):
            basis = np.ones_like(taus)
            for k in range(order):
                if k != j:
                    basis = basis * (taus - nodes[k]) / (nodes[j] - nodes[k])
            row.append(float(np.sum(weight * basis) * dtau))
        table.append(row)
    return table


def deis(model, x, sig, noise, max_order=3):
    table = _deis_tab(sig, max_order)
    past = []
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        d = slope(x, s, model(x, s))
        order = 1 if t <= 0 else min(max_order, i + 1)
        if order == 1:
            nxt = x + (t - s) * d
        else:
            c = table[i]
            nxt = x + c[0] * d
            for j in range(1, order):
                nxt = nxt + c[j] * past[-j]
        past = (past + [d])[-(max_order - 1):]
        x = nxt
    return x


def heunpp2(model, x, sig, noise):
    end = sig[-1]
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        d = slope(x, s, model(x, s))
        dt = t - s
        if t == end:
            x = x + d * dt
            continue
        x2 = x + d * dt
        d2 = slope(x2, t, model(x2, t))
        u = sig[i + 2]
        if u == end:
            w2 = t / (2 * sig[0])
            x = x + (d * (1 - w2) + d2 * w2) * dt
        else:
            x3 = x2 + d2 * (u - t)
            d3 = slope(x3, u, model(x3, u))
            w2, w3 = t / (3 * sig[0]), u / (3 * sig[0])
            x = x + ((1 - w2 - w3) * d + w2 * d2 + w3 * d3) * dt
    return x


def gradient_estimation(model, x, sig, noise, gamma=2.0):
    old = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        d = slope(x, s, x0)
        dt = t - s
        if t == 0:
            x = x0
        else:
            x = x + d * dt
            if i >= 1:
                x = x + (gamma - 1) * (d - old) * dt
        old = d
    return x


def er_sde(model, x, sig, noise, max_stage=3, points=200):
    sp = model.space

    def f(v):
        return v * (np.exp(v ** 0.3) + 10.0)

    vs = [0.0 if s == 0 else math.exp(-half_log_snr(s, sp)) for s in sig]
    k = np.arange(points, dtype=np.float64)
    prev = prev_d = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        stage = min(max_stage, i + 1)
        if t == 0:
            x = x0
        else:
            v, vn = vs[i], vs[i + 1]
            a_s, a_t = s / v, t / vn
            r = f(vn) / f(v)
            x = (a_t / a_s) * r * x + a_t * (1 - r) * x0
            if stage >= 2:
                dv = vn - v
                step = -dv / points
                pos = vn + k * step
                fp = f(pos)
                s1 = np.sum(1 / fp) * step
                dd = (x0 - prev) / (v - vs[i - 1])
                x = x + a_t * (dv + s1 * f(vn)) * dd
                if stage >= 3:
                    s2 = np.sum((pos - v) / fp) * step
                    du = (dd - prev_d) / ((v - vs[i - 2]) / 2)
                    x = x + a_t * (dv * dv / 2 + s2 * f(vn)) * du
                prev_d = dd
            spread = vn * vn - v * v * r * r
            x = x + a_t * noise(s, t) * (math.sqrt(spread) if spread > 0 else 0.0)
        prev = x0
    return x


def seeds_2(model, x, sig, noise, eta=1.0, s_noise=1.0, r=0.5, solver="phi_1"):
    sp = model.space
    inject = eta > 0 and s_noise > 0
    fac = 1 / (2 * r)
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        if t == 0:
            x = x0
            continue
        lam_s, lam_t = half_log_snr(s, sp), half_log_snr(t, sp)
        h = lam_t - lam_s
        he = h * (eta + 1)
        lam_1 = lam_s + r * (lam_t - lam_s)
        s1 = level_of(lam_1, sp)
        a1 = s1 * math.exp(lam_1)
        a_t = t * math.exp(lam_t)
        x1 = (s1 / s) * math.exp(-r * h * eta) * x - a1 * math.expm1(-r * he) * x0
        if inject:
            w = math.sqrt(-math.expm1(-2 * r * h * eta)) * noise(s, s1)
            x1 = x1 + w * s1 * s_noise
        x01 = model(x1, s1)
        if solver == "phi_1":
            mixed = x0 + fac * (x01 - x0)
            x = (t / s) * math.exp(-h * eta) * x - a_t * math.expm1(-he) * mixed
        else:
            b2 = ((math.expm1(-he) + he) / (-he)) / r
            b1 = math.expm1(-he) - b2
            x = (t / s) * math.exp(-h * eta) * x - a_t * (b1 * x0 + b2 * x01)
        if inject:
            seg = (r - 1) * h * eta
            w = w * math.exp(seg) + math.sqrt(-math.expm1(2 * seg)) * noise(s1, t)
            x = x + w * t * s_noise
    return x


def exp_heun_2_x0(model, x, sig, noise):
    return seeds_2(model, x, sig, noise, eta=0.0, s_noise=0.0, r=1.0, solver="phi_2")


def exp_heun_2_x0_sde(model, x, sig, noise):
    return seeds_2(model, x, sig, noise, eta=1.0, s_noise=1.0, r=1.0, solver="phi_2")


def res_multistep(model, x, sig, noise, eta=0.0):
    def split(s, t):
        return (t, 0.0) if not eta else ve_split(s, t)

    prev = prev_down = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0 = model(x, s)
        down, up = split(s, t)
        if down == 0 or prev is None:
            x = x + slope(x, s, x0) * (down - s)
        else:
            lam, lam_old, lam_next, lam_prev = (-math.log(s), -math.log(prev_down), -math.log(down),
                                                -math.log(sig[i - 1]))
            h = lam_next - lam
            c2 = (lam_prev - lam_old) / h
            p1 = math.expm1(-h) / -h
            p2 = (p1 - 1) / -h
            b1, b2 = p1 - p2 / c2, p2 / c2
            x = math.exp(-h) * x + h * (b1 * x0 + b2 * prev)
        if t > 0:
            x = x + noise(s, t) * up
        prev, prev_down = x0, down
    return x


def res_multistep_ancestral(model, x, sig, noise):
    return res_multistep(model, x, sig, noise, eta=1.0)


# ---------------------------------------------------------------------------------------------------------------
# CFG++ samplers (variance exploding); the model returns (D, D_u)


def euler_ancestral_cfg_pp(model, x, sig, noise, eta=1.0, s_noise=1.0):
    """sample_euler_ancestral_cfg_pp; alpha_s = s exp(-ln s) = 1 and alpha_t = 1 in the variance-exploding state."""
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0, u = model(x, s)
        if t == 0:
            x = x0
        else:
            d = slope(x, s, u)
            down, up = ve_split(s, t) if eta else (t, 0.0)
            x = x0 + down * d
            if eta > 0 and s_noise > 0:
                x = x + noise(s, t) * s_noise * up
    return x


def euler_cfg_pp(model, x, sig, noise):
    """sample_euler_cfg_pp: sample_euler_ancestral_cfg_pp with eta 0, s_noise 0 (no draw)."""
    return euler_ancestral_cfg_pp(model, x, sig, noise, eta=0.0, s_noise=0.0)


def dpmpp_2m_cfg_pp(model, x, sig, noise):
    prev_u = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0, u = model(x, s)
        lam, lam_next = -math.log(s), (math.inf if t == 0 else -math.log(t))
        h = lam_next - lam
        if prev_u is None or t == 0:
            mix = -math.exp(-h) * u
        else:
            h_last = lam + math.log(sig[i - 1])
            r = h_last / h
            mix = -math.exp(-h) * u - math.expm1(-h) * (1 / (2 * r)) * (x0 - prev_u)
        x = x0 + mix + math.exp(-h) * x
        prev_u = u
    return x


def dpmpp_2s_ancestral_cfg_pp(model, x, sig, noise):
    """sample_dpmpp_2s_ancestral_cfg_pp, variance-exploding branch: the stage's call only refreshes D_u."""
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0, u = model(x, s)
        guidance = x0 - u
        down, up = ve_split(s, t)
        if down == 0:
            x = x + slope(x, s, u) * (down - s)
        else:
            lam, lam_down = -math.log(s), -math.log(down)
            h = lam_down - lam
            mid = math.exp(-(lam + 0.5 * h))
            xm = (mid / s) * x - math.expm1(-0.5 * h) * u
            _, u = model(xm, mid)
            x = (down / s) * x - math.expm1(-h) * u
        if t > 0:
            x = x + noise(s, t) * up
        x = x + guidance
    return x


def res_multistep_cfg_pp(model, x, sig, noise):
    """res_multistep(eta=0, cfg_pp=True), i.e. sample_res_multistep_cfg_pp."""
    prev_u = prev_down = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0, u = model(x, s)
        down, up = t, 0.0  # get_ancestral_step at eta 0
        if down == 0 or prev_u is None:
            x = x0 + slope(x, s, u) * down
        else:
            lam, lam_old, lam_next, lam_prev = (-math.log(s), -math.log(prev_down), -math.log(down),
                                                -math.log(sig[i - 1]))
            h = lam_next - lam
            c2 = (lam_prev - lam_old) / h
            p1 = math.expm1(-h) / -h
            p2 = (p1 - 1) / -h
            b1, b2 = p1 - p2 / c2, p2 / c2
            x = x + (x0 - u)
            x = math.exp(-h) * x + h * (b1 * u + b2 * prev_u)
        if t > 0:
            x = x + noise(s, t) * up
        prev_u, prev_down = u, down
    return x


def gradient_estimation_cfg_pp(model, x, sig, noise, gamma=2.0):
    old = None
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        x0, u = model(x, s)
        d = slope(x, s, u)
        dt = t - s
        if t == 0:
            x = x0
        else:
            x = x0 + d * t
            if i >= 1:
                x = x + (gamma - 1) * (d - old) * dt
        old = d
    return x


# ---------------------------------------------------------------------------------------------------------------
# cases

# (ComfyUI function, reference implementation, Java name on VE or None, Java name on flow or None)
CASES = [
    ("sample_euler_ancestral / sample_euler_ancestral_RF", euler_ancestral, "euler_ancestral",
     "flow_euler_ancestral"),
    ("sample_lms", lms, None, "flow_lms"),  # the Java VE lms follows diffusers
    ("sample_dpm_2", dpm_2, "dpm_2", "flow_dpm_2"),
    ("sample_dpm_2_ancestral / sample_dpm_2_ancestral_RF", dpm_2_ancestral, "dpm_2_ancestral",
     "flow_dpm_2_ancestral"),
    ("sample_dpmpp_2s_ancestral / sample_dpmpp_2s_ancestral_RF", dpmpp_2s_ancestral, "dpmpp_2s_ancestral",
     "flow_dpmpp_2s_ancestral"),
    ("sample_dpmpp_sde", dpmpp_sde, "dpmpp_sde", "flow_dpmpp_sde"),
    ("sample_dpmpp_2m", dpmpp_2m, "dpmpp_2m", "flow_dpmpp_2m"),
    ("sample_dpmpp_2m_sde (midpoint)", dpmpp_2m_sde, None, "flow_dpmpp_2m_sde"),  # the Java VE one is diffusers'
    ("sample_dpmpp_2m_sde_heun", dpmpp_2m_sde_heun, "dpmpp_2m_sde_heun", "flow_dpmpp_2m_sde_heun"),
    ("sample_dpmpp_3m_sde", dpmpp_3m_sde, "dpmpp_3m_sde", "flow_dpmpp_3m_sde"),
    ("sample_ipndm", ipndm, "ipndm", "flow_ipndm"),
    ("sample_ipndm_v", ipndm_v, "ipndm_v", "flow_ipndm_v"),
    ("sample_deis (tab, max_order 3)", deis, "deis", "flow_deis"),
    ("sample_heunpp2", heunpp2, "heunpp2", "flow_heunpp2"),
    ("sample_gradient_estimation", gradient_estimation, "gradient_estimation", "flow_gradient_estimation"),
    ("sample_er_sde", er_sde, "er_sde", "flow_er_sde"),
    ("sample_seeds_2", seeds_2, "seeds_2", "flow_seeds_2"),
    ("sample_exp_heun_2_x0", exp_heun_2_x0, "exp_heun_2_x0", "flow_exp_heun_2_x0"),
    ("sample_exp_heun_2_x0_sde", exp_heun_2_x0_sde, "exp_heun_2_x0_sde", "flow_exp_heun_2_x0_sde"),
    ("res_multistep (eta 0: sample_res_multistep)", res_multistep, "res_multistep", "flow_res_multistep"),
    ("res_multistep (eta 1: sample_res_multistep_ancestral)", res_multistep_ancestral, "res_multistep_ancestral",
     None),
]


# CFG++ cases: (ComfyUI function, reference implementation, Java name), variance exploding, GuidedGaussian model
CFG_PP_CASES = [
    ("sample_euler_cfg_pp", euler_cfg_pp, "euler_cfg_pp"),
    ("sample_euler_ancestral_cfg_pp", euler_ancestral_cfg_pp, "euler_ancestral_cfg_pp"),
    ("sample_dpmpp_2m_cfg_pp", dpmpp_2m_cfg_pp, "dpmpp_2m_cfg_pp"),
    ("sample_dpmpp_2s_ancestral_cfg_pp (variance exploding)", dpmpp_2s_ancestral_cfg_pp, "dpmpp_2s_ancestral_cfg_pp"),
    ("res_multistep (eta 0, cfg_pp: sample_res_multistep_cfg_pp)", res_multistep_cfg_pp, "res_multistep_cfg_pp"),
    ("sample_gradient_estimation_cfg_pp", gradient_estimation_cfg_pp, "gradient_estimation_cfg_pp"),
]


def schedules():
    ve = karras_levels(12, 0.03, 14.6, 7.0)
    flow = shifted_flow_levels(12, 3.0)
    return {
        "ve": {"sigmas": ve.tolist(), "x_T": (X_UNIT * math.sqrt(S * S + ve[0] ** 2)).tolist(),
               "description": "Karras levels n=12, sigma_min 0.03, sigma_max 14.6, rho 7, then 0; "
                              "x_T = [-2.5, -0.3, 0.8, 3.0] * sqrt(S^2 + sigma_0^2)"},
        "flow": {"sigmas": flow.tolist(), "x_T": X_UNIT.tolist(),
                 "description": "u = linspace(1, 0, 13) (12 steps, final 0), s = 3u/(1 + 2u); "
                                "x_T = [-2.5, -0.3, 0.8, 3.0]"},
    }


def main():
    sch = schedules()
    cases = []
    for comfy, fn, ve_name, flow_name in CASES:
        for space, java in (("ve", ve_name), ("flow", flow_name)):
            if java is None:
                continue
            sig = sch[space]["sigmas"]
            x = np.array(sch[space]["x_T"], dtype=np.float64)
            model = Gaussian(space)
            noise = SinNoise(len(x))
            out = fn(model, x, sig, noise)
            cases.append({"comfy": comfy, "java": java, "space": space, "final_x": [float(v) for v in out],
                          "model_calls": model.calls, "noise_draws": noise.k})
    for comfy, fn, java in CFG_PP_CASES:
        x = np.array(sch["ve"]["x_T"], dtype=np.float64)
        model = GuidedGaussian()
        noise = SinNoise(len(x))
        out = fn(model, x, sch["ve"]["sigmas"], noise)
        cases.append({"comfy": comfy, "java": java, "space": "ve", "model": "guided", "final_x": [float(v) for v in out],
                      "model_calls": model.calls, "noise_draws": noise.k})
    doc = {
        "source": "bench/comfy/comfy_reference.py: float64 numpy re-statement of ComfyUI comfy/k_diffusion/"
                  "sampling.py (+ deis.py), eta and s_noise at their defaults",
        "S": S,
        "model": {"ve": "D(x, s) = x S^2 / (S^2 + s^2)",
                  "flow": "D(x, s) = (1 - s) S^2 x / ((1 - s)^2 S^2 + s^2)",
                  "guided": "CFG++ cases (\"model\": \"guided\", variance exploding): each call gives D and D_u, "
                            "D_u = x S_u^2 / (S_u^2 + s^2), D_c = x S_c^2 / (S_c^2 + s^2), D = D_u + w (D_c - D_u)"},
        "guided": {"S_u": CFG_S_U, "S_c": CFG_S_C, "w": CFG_W},
        "noise_rule": "k-th draw of the run (k = 0, 1, ...), element j: sqrt(2) * sin(1.7 k + 0.9 j + 0.3); "
                      "replaces noise_sampler and the Brownian tree (dpmpp_sde: two draws z1, z2 per step, "
                      "second increment (sqrt(s - s_m) z1 + sqrt(s_m - s') z2) / sqrt(s - s'), as the Java)",
        "flow_log_snr": "no offset_first_sigma_for_snr; s clamped at 1 - 1e-4 inside ln((1 - s)/s) only "
                        "(the Java's Interpolant.RECTIFIED_FLOW convention)",
        "schedules": sch,
        "cases": cases,
    }
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "samplers", "src", "test", "resources", "comfy-reference", "trajectories.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    for c in cases:
        print(f"{c['space']:4s} {c['java']:26s} {c['final_x']}")
    print("wrote", path)


if __name__ == "__main__":
    main()
