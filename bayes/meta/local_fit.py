"""Local (per-episode) Gaussian fits of the weight posterior used by NIW-Meta.

* :func:`sgld_gaussian_fit`: SGLD from a start point, Gaussian fit (mean, τ/variance) to the
  kept states (the note's §1.5, the official code's ``run_sgld_gaussian_fit`` as described
  second-hand);
* :func:`ggn_diagonal`: the Laplace (curvature) precision of the episode loss, the diagonal of
  its generalised Gauss-Newton matrix;
* :func:`variational_fit`: a diagonal Gaussian q(θ) fitted by reparameterised gradient steps on
  E_q[U(θ)] + KL(q ‖ N(m₀, 1/P)), the test-time inference of the paper's eq. (13) (note §1.8).

References:
    Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin Dynamics", ICML 2011.
    Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024.
    Blundell et al., "Weight Uncertainty in Neural Networks", ICML 2015 (reparameterised VI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["GaussianFit", "sgld_gaussian_fit", "ggn_diagonal", "variational_fit"]


class GaussianFit(NamedTuple):
    """Diagonal Gaussian fit to SGLD samples: mean m̄ ``(d,)``, precision A ``(d,)``.

    ``clamped_frac``: fraction of coordinates clipped at ``a_max`` (saturated); ``floor_frac``:
    fraction clipped at ``a_min`` (no curvature, e.g. weights behind ReLUs that no support
    point activates; harmless, the prior precision takes over).
    """

    mean: jax.Array
    precision: jax.Array
    clamped_frac: jax.Array
    floor_frac: jax.Array


def sgld_gaussian_fit(
    key: jax.Array,
    energy: Callable[[jax.Array], jax.Array],
    theta0: jax.Array,
    *,
    steps: int,
    burnin: int,
    step_size: float,
    temperature: float = 1.0,
    a_min: float = 1e-4,
    a_max: float = 1e3,
    preconditioner: str = "adam",
) -> GaussianFit:
    """Runs SGLD on exp(−energy) from ``theta0`` and fits a diagonal Gaussian to the samples.

    ``preconditioner="none"``: plain SGLD, θ ← θ − (ε/2)∇U(θ) + √(ετ) ξ.
    ``preconditioner="adam"`` (the official code as described second-hand in the project note,
    ``run_sgld_gaussian_fit``): the noisy gradient g = ∇U(θ)/2 + √(τ/ε) ξ is fed to Adam with
    learning rate ε (β = 0.9, 0.999). Adam normalises the step, so the sample spread is of order ε
    and A often saturates at ``a_max`` (watch ``clamped_frac``).

    States t = burnin..steps−1 are kept as Welford running moments (memory O(d) whatever ``steps``);
    A = clip(1/unbiased variance, a_min, a_max); ``clamped_frac`` is the fraction of coordinates
    where the clip at ``a_max`` was active (``floor_frac``: at ``a_min``). A is the precision of
    the distribution the chain targets, exp(−U/τ): with U ≈ ½(θ − m̄)ᵀH(θ − m̄) that is H/τ.

    Why A saturates with the Adam preconditioner (measured: ``clamped_frac`` = 1.0 on every
    task): Adam divides the noisy gradient by its running RMS, so each coordinate moves by about
    ε per step whatever the loss, and a few strongly autocorrelated kept states have a spread of
    order ε. 1/var ≈ 1/ε² (1e3-1e4 for ε = 0.01-0.03) then measures the step size, not the
    curvature. :func:`ggn_diagonal` gives the curvature directly.

    With a single kept sample the variance is undefined; it is taken as 0, so A = ``a_max``
    everywhere (fully clamped), which keeps ``steps=1`` usable for the memory-vs-steps curve.

    Raises:
        ValueError: no kept sample.
    """
    if steps - burnin < 1 or burnin < 0:
        raise ValueError(f"steps - burnin: need >= 1 kept SGLD sample, got {steps - burnin}")
    if preconditioner not in ("none", "adam"):
        raise ValueError(f"preconditioner: expected 'none' or 'adam', got {preconditioner!r}")
    grad = jax.grad(energy)
    b1, b2, tiny = 0.9, 0.999, 1e-8

    def body(carry, t):
        theta, mom, vel, mean, m2 = carry
        xi = jax.random.normal(jax.random.fold_in(key, t), theta.shape)
        if preconditioner == "none":
            theta = theta - 0.5 * step_size * grad(theta) + jnp.sqrt(step_size * temperature) * xi
        else:
            g = 0.5 * grad(theta) + jnp.sqrt(temperature / step_size) * xi
            mom = b1 * mom + (1 - b1) * g
            vel = b2 * vel + (1 - b2) * g**2
            tf = (t + 1).astype(theta.dtype)
            mhat, vhat = mom / (1 - b1**tf), vel / (1 - b2**tf)
            theta = theta - step_size * mhat / (jnp.sqrt(vhat) + tiny)
        # Welford's running mean / sum of squared deviations over the kept states.
        count = jnp.maximum(t - burnin + 1, 1).astype(theta.dtype)
        keep = t >= burnin
        delta = theta - mean
        new_mean = jnp.where(keep, mean + delta / count, mean)
        m2 = jnp.where(keep, m2 + delta * (theta - new_mean), m2)
        return (theta, mom, vel, new_mean, m2), None

    zeros = jnp.zeros_like(theta0)
    init = (theta0, zeros, zeros, zeros, zeros)
    (_, _, _, mean, m2), _ = jax.lax.scan(body, init, jnp.arange(steps))
    var = m2 / max(steps - burnin - 1, 1)  # one kept sample: var 0, so A = a_max everywhere
    raw = 1.0 / jnp.maximum(var, 1e-30)
    return GaussianFit(mean, jnp.clip(raw, a_min, a_max), *_clip_fractions(raw, a_min, a_max))


def _clip_fractions(raw: jax.Array, a_min: float, a_max: float) -> tuple[jax.Array, jax.Array]:
    frac = lambda mask: jnp.mean(mask.astype(jnp.float32))
    return frac(raw > a_max), frac(raw < a_min)


def ggn_diagonal(
    apply: Callable[[jax.Array, jax.Array], jax.Array],
    theta: jax.Array,
    x: jax.Array,
    kind: str,
    lik_std: float = 1.0,
) -> jax.Array:
    """Diagonal of the generalised Gauss-Newton matrix of the summed NLL of ``(x, ·)`` at θ.

    The GGN is the positive semi-definite part of the Hessian of U(θ) = Σₙ ℓ(f(xₙ; θ), yₙ):
    Σₙ Jₙᵀ Hₙ Jₙ with Jₙ the Jacobian of the outputs fₙ and Hₙ the Hessian of ℓ in the outputs,
    1/σ² for a Gaussian likelihood and diag(p) − ppᵀ for softmax (neither depends on yₙ).
    Per-example Jacobians (vmap of ``jacrev`` on one example) keep the cost at C single-example
    backward passes per point.

    Args:
        apply: ``apply(theta (d,), x (n, ...)) -> (n, C)``.
        theta: ``(d,)`` weights.
        x: ``(n, ...)`` inputs.
        kind: ``"regression"`` (C = 1 output, the mean) or ``"classification"`` (C logits).
        lik_std: Gaussian likelihood standard deviation σ (regression).

    Returns:
        ``(d,)`` the GGN diagonal (>= 0).

    References:
        Schraudolph, "Fast Curvature Matrix-Vector Products for Second-Order Gradient
        Descent", Neural Computation 2002. Martens, "New Insights and Perspectives on the
        Natural Gradient Method", JMLR 2020, §8.
    """
    jac = jax.vmap(jax.jacrev(lambda th, xi: apply(th, xi[None])[0]), in_axes=(None, 0))(theta, x)
    if kind == "regression":
        return jnp.sum(jac[:, 0, :] ** 2, axis=0) / lik_std**2
    p = jax.nn.softmax(apply(theta, x), axis=-1)  # (n, C)
    first = jnp.einsum("nc,ncd->d", p, jac**2)
    second = jnp.sum(jnp.einsum("nc,ncd->nd", p, jac) ** 2, axis=0)
    return jnp.maximum(first - second, 0.0)


def variational_fit(
    key: jax.Array,
    energy: Callable[[jax.Array], jax.Array],
    prior_mean: jax.Array,
    prior_precision: jax.Array,
    *,
    steps: int,
    learning_rate: float,
) -> tuple[jax.Array, jax.Array]:
    """Fits q(θ) = N(m, diag(1/γ)) to exp(−energy) N(prior_mean, 1/prior_precision) by VI.

    Minimises E_q[U(θ)] + KL(q ‖ N(m₀, diag(1/P))) with one reparameterised sample per step and
    Adam on (m, log γ), starting from the prior (m = m₀, γ = P): the test-time "variational
    approach starting from a mode of the task-global posterior" (paper eq. (13), note §1.8).

    Args:
        key: PRNG key.
        energy: U(θ), the summed support NLL.
        prior_mean: ``(d,)`` m₀.
        prior_precision: ``(d,)`` P > 0.
        steps: number of Adam steps (>= 0).
        learning_rate: Adam learning rate.

    Returns:
        ``(m, γ)``, each ``(d,)``.
    """
    if steps < 0:
        raise ValueError(f"steps: expected >= 0, got {steps}")
    opt = optax.adam(learning_rate)

    def objective(q, eps):
        m, log_g = q
        g = jnp.exp(log_g)
        kl = 0.5 * jnp.sum(prior_precision / g + prior_precision * (m - prior_mean) ** 2 - 1.0
                           + log_g - jnp.log(prior_precision))
        return energy(m + eps * jnp.exp(-0.5 * log_g)) + kl

    def body(carry, t):
        q, s = carry
        eps = jax.random.normal(jax.random.fold_in(key, t), prior_mean.shape)
        u, s = opt.update(jax.grad(objective)(q, eps), s, q)
        return (optax.apply_updates(q, u), s), None

    q0 = (prior_mean, jnp.log(prior_precision))
    (m, log_g), _ = jax.lax.scan(body, (q0, opt.init(q0)), jnp.arange(steps))[0]
    return m, jnp.exp(log_g)
