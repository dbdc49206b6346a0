"""Normal-Inverse-Wishart distributions (full and diagonal) as numpyro ``Distribution`` s.

The joint prior of a Gaussian's mean and covariance,

    Σ ~ IW(Ψ, ν),    μ | Σ ~ N(m, Σ / κ),

with conjugate updates from Gaussian data, the multivariate Student-t posterior predictive, and
the expected KL ``E_{(μ,Σ)~NIW}[KL(N(m_q, V_q) ‖ N(μ, Σ))]`` that NIW-Meta uses as its
regulariser (Kim & Hospedales, ICLR 2024). IW(Ψ, ν) has density ∝ |Σ|^{-(ν+d+1)/2}
exp(-tr(ΨΣ⁻¹)/2), as ``scipy.stats.invwishart(df=ν, scale=Ψ)`` and numpyro's ``InverseWishart``.

A draw is the pair (μ, Σ) packed into one array so it composes with numpyro: ``(..., d, d+1)``
with μ in column 0 and Σ in columns 1..d (see :func:`pack_niw` / :func:`unpack_niw`). The
diagonal variant (:class:`DiagonalNormalInverseWishart`) restricts Σ to diagonal matrices,
which factorises into independent Normal-Inverse-Gammas σ_k² ~ InvGamma(ν_k/2, ψ_k/2),
μ_k | σ_k² ~ N(m_k, σ_k²/κ_k); a draw is ``(..., d, 2)`` = [μ_k, σ_k²].

Notation map to the NIW-Meta note: m₀ = ``loc``, l₀ = ``kappa``, n₀ = ``df`` and V₀ = Ψ⁻¹
(diagonal: γ₀ = 1/ψ), so E[Σ⁻¹] = n₀V₀.

References:
    Murphy, "Conjugate Bayesian analysis of the Gaussian distribution" (2007), §9 (NIW
    posterior, predictive). Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta
    Learning", ICLR 2024 (arXiv 2306.09702); expected KL as derived in the project note §1.4.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import digamma, gammaln, multigammaln
from jax.typing import ArrayLike
from numpyro.distributions import constraints

__all__ = [
    "NormalInverseWishart",
    "DiagonalNormalInverseWishart",
    "pack_niw",
    "unpack_niw",
    "expected_kl_full",
    "expected_kl_diag",
]


def pack_niw(mu: ArrayLike, sigma: ArrayLike) -> jax.Array:
    """Packs μ ``(..., d)`` and Σ ``(..., d, d)`` (or σ² ``(..., d)``) into one NIW value."""
    mu = jnp.asarray(mu)
    sigma = jnp.asarray(sigma)
    if sigma.ndim == mu.ndim:  # diagonal variances
        return jnp.stack([mu, sigma], axis=-1)
    return jnp.concatenate([mu[..., None], sigma], axis=-1)


def unpack_niw(value: ArrayLike, diagonal: bool = False) -> tuple[jax.Array, jax.Array]:
    """Splits an NIW value into (μ ``(..., d)``, Σ ``(..., d, d)``), or (μ, σ² ``(..., d)``)."""
    value = jnp.asarray(value)
    if diagonal:
        return value[..., 0], value[..., 1]
    return value[..., 0], value[..., 1:]


class _NIWSupport(constraints.Constraint):
    """(μ, Σ) with μ real and Σ symmetric positive definite (full) or σ² > 0 (diagonal)."""

    event_dim = 2

    def __init__(self, diagonal: bool):
        self.diagonal = diagonal

    def __call__(self, x):
        mu, sigma = unpack_niw(x, self.diagonal)
        finite = jnp.all(jnp.isfinite(mu), axis=-1)
        if self.diagonal:
            return finite & jnp.all(sigma > 0, axis=-1)
        return finite & constraints.positive_definite(sigma)

    def feasible_like(self, prototype):
        d = prototype.shape[-2]
        eye = jnp.ones((d,)) if self.diagonal else jnp.eye(d)
        return jnp.broadcast_to(pack_niw(jnp.zeros((d,)), eye), prototype.shape)

    def tree_flatten(self):
        return (), ((), {"diagonal": self.diagonal})


def _check_dim(loc: jax.Array, name: str) -> None:
    if loc.ndim < 1:
        raise ValueError(f"{name}: expected an array of shape (..., d), got shape {loc.shape}")


def expected_kl_full(m_q, v_q, loc, kappa, scale, df) -> jax.Array:
    """E_{(μ,Σ)~NIW(loc,κ,Ψ,ν)}[KL(N(m_q, V_q) ‖ N(μ, Σ))] for full covariances.

    ``½[ν tr(Ψ⁻¹V) + ν (m−m₀)ᵀΨ⁻¹(m−m₀) + d/κ − d + log|Ψ| − ψ_d(ν/2) − d log 2 − log|V|]``,
    using E[Σ⁻¹] = νΨ⁻¹ and E[log|Σ|] = log|Ψ| − ψ_d(ν/2) − d log 2. ``kappa=inf`` drops d/κ.
    """
    d = m_q.shape[-1]
    chol = jnp.linalg.cholesky(scale)
    diff = (m_q - loc)[..., None]
    sol = jax.scipy.linalg.cho_solve((chol, True), jnp.concatenate([v_q, diff], axis=-1))
    trace = jnp.trace(sol[..., :d], axis1=-2, axis2=-1)
    maha = jnp.sum(diff[..., 0] * sol[..., d], axis=-1)
    logdet_scale = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    logdet_v = jnp.linalg.slogdet(v_q)[1]
    mdigamma = sum(digamma((df - i) / 2.0) for i in range(d))
    return 0.5 * (
        df * trace + df * maha + d / kappa - d + logdet_scale - mdigamma - d * math.log(2.0)
        - logdet_v
    )


def expected_kl_diag(m_q, v_q, loc, kappa, scale, df) -> jax.Array:
    """Diagonal form of :func:`expected_kl_full`, summed over the last axis.

    With γ₀ = 1/ψ, n₀ = ν and γ = 1/v this is the NIW-Meta regulariser
    ``½ Σ_k [n₀γ₀(m−m₀)² + n₀γ₀/γ + log γ − log γ₀ − ψ(n₀/2) − log 2 + 1/l₀ − 1]``.
    """
    terms = (
        df * (m_q - loc) ** 2 / scale + df * v_q / scale + 1.0 / kappa - 1.0 + jnp.log(scale)
        - digamma(df / 2.0) - math.log(2.0) - jnp.log(v_q)
    )
    return 0.5 * jnp.sum(terms, axis=-1)


def _inverse_wishart_log_prob(sigma, scale, df) -> jax.Array:
    """log IW(Σ; Ψ, ν), broadcasting Ψ ``(..., d, d)`` and ν over leading sample axes of Σ."""
    d = sigma.shape[-1]
    scale = jnp.broadcast_to(scale, sigma.shape)
    df = jnp.broadcast_to(df, sigma.shape[:-2])
    chol_sigma = jnp.linalg.cholesky(sigma)
    logdet_sigma = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_sigma, axis1=-2, axis2=-1)), axis=-1)
    logdet_scale = jnp.linalg.slogdet(scale)[1]
    trace = jnp.trace(jax.scipy.linalg.cho_solve((chol_sigma, True), scale), axis1=-2, axis2=-1)
    return (
        0.5 * df * logdet_scale - 0.5 * df * d * math.log(2.0) - multigammaln(0.5 * df, d)
        - 0.5 * (df + d + 1.0) * logdet_sigma - 0.5 * trace
    )


class NormalInverseWishart(dist.Distribution):
    """Normal-Inverse-Wishart: Σ ~ IW(``scale``, ``df``), μ | Σ ~ N(``loc``, Σ/``kappa``).

    Args:
        loc: ``(..., d)`` mean of μ (m₀).
        kappa: ``(...)`` positive pseudo-count on the mean (l₀).
        scale: ``(..., d, d)`` positive-definite IW scale matrix Ψ.
        df: ``(...)`` degrees of freedom ν > d − 1 (n₀).

    Values are ``(..., d, d+1)`` arrays, μ in column 0 and Σ after it (:func:`pack_niw`).

    Example:
        >>> niw = NormalInverseWishart(jnp.zeros(2), 1.0, jnp.eye(2), 5.0)
        >>> niw.sample(jax.random.key(0)).shape
        (2, 3)

    References:
        Murphy (2007), "Conjugate Bayesian analysis of the Gaussian distribution", §9.
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "kappa": constraints.positive,
        "scale": constraints.positive_definite,
        "df": constraints.positive,
    }
    support = _NIWSupport(diagonal=False)
    pytree_data_fields = ("loc", "kappa", "scale", "df")

    def __init__(self, loc, kappa, scale, df, *, validate_args=None):
        loc = jnp.asarray(loc, dtype=float)
        scale = jnp.asarray(scale, dtype=float)
        _check_dim(loc, "loc")
        d = loc.shape[-1]
        if scale.shape[-2:] != (d, d):
            raise ValueError(f"scale: expected shape (..., {d}, {d}), got {scale.shape}")
        batch_shape = jnp.broadcast_shapes(
            loc.shape[:-1], scale.shape[:-2], jnp.shape(kappa), jnp.shape(df)
        )
        self.loc = jnp.broadcast_to(loc, batch_shape + (d,))
        self.scale = jnp.broadcast_to(scale, batch_shape + (d, d))
        self.kappa = jnp.broadcast_to(jnp.asarray(kappa, dtype=float), batch_shape)
        self.df = jnp.broadcast_to(jnp.asarray(df, dtype=float), batch_shape)
        super().__init__(batch_shape, (d, d + 1), validate_args=validate_args)

    @property
    def dim(self) -> int:
        return self.loc.shape[-1]

    def _iw(self) -> dist.InverseWishart:
        return dist.InverseWishart(self.df, scale_matrix=self.scale)

    def sample(self, key, sample_shape=()):
        k_sigma, k_mu = jax.random.split(key)
        sigma = self._iw().sample(k_sigma, sample_shape)
        kappa = jnp.broadcast_to(self.kappa[..., None, None], sigma.shape)
        chol = jnp.linalg.cholesky(sigma / kappa)
        eps = jax.random.normal(k_mu, sigma.shape[:-1])
        mu = jnp.broadcast_to(self.loc, eps.shape) + jnp.einsum("...ij,...j->...i", chol, eps)
        return pack_niw(mu, sigma)

    def log_prob(self, value):
        mu, sigma = unpack_niw(value)
        lp_sigma = _inverse_wishart_log_prob(sigma, self.scale, self.df)
        cov = sigma / jnp.broadcast_to(self.kappa[..., None, None], sigma.shape)
        mvn = dist.MultivariateNormal(jnp.broadcast_to(self.loc, mu.shape), covariance_matrix=cov)
        return lp_sigma + mvn.log_prob(mu)

    @property
    def mean(self):
        """(E[μ], E[Σ]) = (m, Ψ/(ν−d−1)), defined for ν > d + 1."""
        return pack_niw(self.loc, self.scale / (self.df - self.dim - 1.0)[..., None, None])

    @property
    def mode(self):
        """Joint mode (m, Ψ/(ν+d+2)) of the density over (μ, Σ)."""
        return pack_niw(self.loc, self.scale / (self.df + self.dim + 2.0)[..., None, None])

    def posterior(self, x: ArrayLike) -> NormalInverseWishart:
        """Conjugate posterior after observing ``x`` ``(n, d)`` i.i.d. from N(μ, Σ).

        κₙ = κ+n, mₙ = (κm + n x̄)/κₙ, νₙ = ν+n, Ψₙ = Ψ + S + κn/κₙ (x̄−m)(x̄−m)ᵀ with S the
        scatter matrix about x̄ (Murphy 2007, eq. 250-254). Unbatched distributions only.
        """
        x = jnp.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[-1] != self.dim or self.batch_shape:
            raise ValueError(
                f"x: expected shape (n, {self.dim}) for an unbatched NIW, got {x.shape} "
                f"(batch_shape {self.batch_shape})"
            )
        n = x.shape[0]
        xbar = jnp.mean(x, axis=0)
        centred = x - xbar[None, :]
        scatter = centred.T @ centred
        kappa_n = self.kappa + n
        diff = xbar - self.loc
        return NormalInverseWishart(
            (self.kappa * self.loc + n * xbar) / kappa_n,
            kappa_n,
            self.scale + scatter + (self.kappa * n / kappa_n) * jnp.outer(diff, diff),
            self.df + n,
        )

    def predictive(self) -> dist.MultivariateStudentT:
        """Posterior predictive of a new x: t_{ν−d+1}(m, Ψ(κ+1)/(κ(ν−d+1)))."""
        dof = self.df - self.dim + 1.0
        shape = self.scale * ((self.kappa + 1.0) / (self.kappa * dof))[..., None, None]
        return dist.MultivariateStudentT(dof, self.loc, jnp.linalg.cholesky(shape))

    def expected_kl(self, m_q: ArrayLike, v_q: ArrayLike) -> jax.Array:
        """E[KL(N(m_q, V_q) ‖ N(μ, Σ))] under this NIW; see :func:`expected_kl_full`."""
        return expected_kl_full(
            jnp.asarray(m_q), jnp.asarray(v_q), self.loc, self.kappa, self.scale, self.df
        )


class DiagonalNormalInverseWishart(dist.Distribution):
    """NIW restricted to diagonal Σ: independent Normal-Inverse-Gammas per coordinate.

    σ_k² ~ InvGamma(ν_k/2, rate ψ_k/2) (the 1×1 inverse Wishart), μ_k | σ_k² ~ N(m_k, σ_k²/κ_k).

    Args:
        loc: ``(..., d)`` means m.
        kappa: positive pseudo-counts, broadcastable to ``loc`` (may be ``inf``).
        scale: ``(..., d)`` positive scales ψ (ψ = 1/γ₀ in the NIW-Meta note).
        df: positive degrees of freedom ν, broadcastable to ``loc``.

    Values are ``(..., d, 2)`` arrays [μ_k, σ_k²].

    Example:
        >>> q = DiagonalNormalInverseWishart(jnp.zeros(3), 1.0, jnp.ones(3), 4.0)
        >>> q.sample(jax.random.key(0)).shape
        (3, 2)
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "kappa": constraints.independent(constraints.positive, 1),
        "scale": constraints.independent(constraints.positive, 1),
        "df": constraints.independent(constraints.positive, 1),
    }
    support = _NIWSupport(diagonal=True)
    pytree_data_fields = ("loc", "kappa", "scale", "df")

    def __init__(self, loc, kappa, scale, df, *, validate_args=None):
        loc = jnp.asarray(loc, dtype=float)
        _check_dim(loc, "loc")
        shape = jnp.broadcast_shapes(loc.shape, jnp.shape(scale), jnp.shape(kappa), jnp.shape(df))
        self.loc = jnp.broadcast_to(loc, shape)
        self.kappa = jnp.broadcast_to(jnp.asarray(kappa, dtype=float), shape)
        self.scale = jnp.broadcast_to(jnp.asarray(scale, dtype=float), shape)
        self.df = jnp.broadcast_to(jnp.asarray(df, dtype=float), shape)
        super().__init__(shape[:-1], (shape[-1], 2), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k_sigma, k_mu = jax.random.split(key)
        shape = tuple(sample_shape) + self.loc.shape
        gamma = jax.random.gamma(k_sigma, jnp.broadcast_to(self.df / 2.0, shape), shape)
        var = jnp.broadcast_to(self.scale / 2.0, shape) / gamma
        eps = jax.random.normal(k_mu, var.shape)
        loc, kappa = (jnp.broadcast_to(a, var.shape) for a in (self.loc, self.kappa))
        return pack_niw(loc + jnp.sqrt(var / kappa) * eps, var)

    def log_prob(self, value):
        mu, var = unpack_niw(value, diagonal=True)
        loc, kappa = (jnp.broadcast_to(a, var.shape) for a in (self.loc, self.kappa))
        normal = dist.Normal(loc, jnp.sqrt(var / kappa))
        a = jnp.broadcast_to(self.df / 2.0, var.shape)
        b = jnp.broadcast_to(self.scale / 2.0, var.shape)
        lp_var = a * jnp.log(b) - gammaln(a) - (a + 1.0) * jnp.log(var) - b / var
        lp = lp_var + normal.log_prob(mu)
        return jnp.sum(lp, axis=-1)

    @property
    def mean(self):
        """(m, ψ/(ν−2)) per coordinate, defined for ν > 2."""
        return pack_niw(self.loc, self.scale / (self.df - 2.0))

    @property
    def mode(self):
        """Joint mode (m, ψ/(ν+3)) (the full NIW mode with d = 1 per coordinate)."""
        return pack_niw(self.loc, self.scale / (self.df + 3.0))

    def posterior(self, x: ArrayLike) -> DiagonalNormalInverseWishart:
        """Per-coordinate conjugate posterior after ``x`` ``(n, d)`` i.i.d. N(μ, diag σ²)."""
        x = jnp.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[-1] != self.loc.shape[-1] or self.batch_shape:
            raise ValueError(
                f"x: expected shape (n, {self.loc.shape[-1]}) for an unbatched distribution, "
                f"got {x.shape}"
            )
        n = x.shape[0]
        xbar = jnp.mean(x, axis=0)
        scatter = jnp.sum((x - xbar[None, :]) ** 2, axis=0)
        kappa_n = self.kappa + n
        return DiagonalNormalInverseWishart(
            (self.kappa * self.loc + n * xbar) / kappa_n,
            kappa_n,
            self.scale + scatter + self.kappa * n / kappa_n * (xbar - self.loc) ** 2,
            self.df + n,
        )

    def predictive(self) -> dist.Independent:
        """Posterior predictive: independent t_ν(m, ψ(κ+1)/(κν)) per coordinate."""
        sd = jnp.sqrt(self.scale * (self.kappa + 1.0) / (self.kappa * self.df))
        return dist.StudentT(self.df, self.loc, sd).to_event(1)

    def expected_kl(self, m_q: ArrayLike, v_q: ArrayLike) -> jax.Array:
        """E[KL(N(m_q, diag v_q) ‖ N(μ, diag σ²))]; see :func:`expected_kl_diag`."""
        return expected_kl_diag(
            jnp.asarray(m_q), jnp.asarray(v_q), self.loc, self.kappa, self.scale, self.df
        )
