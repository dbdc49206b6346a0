"""NIW distributions against scipy.stats and Monte Carlo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayes.niw import (
    DiagonalNormalInverseWishart,
    NormalInverseWishart,
    pack_niw,
    unpack_niw,
)

LOC = np.array([0.5, -1.0, 2.0])
SCALE = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.0]])
KAPPA, DF = 2.5, 7.0
DLOC = np.array([0.5, -1.0, 2.0])
DSCALE = np.array([1.5, 0.7, 2.0])
DKAPPA = np.array([2.0, 0.5, 4.0])
DDF = np.array([6.0, 9.0, 5.0])


def _full():
    return NormalInverseWishart(LOC, KAPPA, SCALE, DF)


def _diag():
    return DiagonalNormalInverseWishart(DLOC, DKAPPA, DSCALE, DDF)


def _scipy_full_logpdf(mu, sigma):
    return stats.invwishart(df=DF, scale=SCALE).logpdf(sigma) + stats.multivariate_normal(
        LOC, sigma / KAPPA
    ).logpdf(mu)


def _scipy_diag_logpdf(mu, var):
    lp = stats.invgamma(DDF / 2, scale=DSCALE / 2).logpdf(var)
    lp += stats.norm(DLOC, np.sqrt(var / DKAPPA)).logpdf(mu)
    return lp.sum()


def test_full_log_prob_matches_scipy(key):
    values = _full().sample(key, (4,))
    assert values.shape == (4, 3, 4)
    got = np.asarray(_full().log_prob(values))
    for v, g in zip(np.asarray(values, dtype=np.float64), got):
        mu, sigma = v[:, 0], v[:, 1:]
        np.testing.assert_allclose(g, _scipy_full_logpdf(mu, sigma), rtol=1e-4, atol=1e-3)


def test_diag_log_prob_matches_scipy(key):
    values = _diag().sample(key, (4,))
    assert values.shape == (4, 3, 2)
    got = np.asarray(_diag().log_prob(values))
    for v, g in zip(np.asarray(values, dtype=np.float64), got):
        np.testing.assert_allclose(g, _scipy_diag_logpdf(v[:, 0], v[:, 1]), rtol=1e-4, atol=1e-3)


def test_full_sample_moments(key):
    mu, sigma = unpack_niw(_full().sample(key, (40_000,)))
    mean_mu, mean_sigma = unpack_niw(_full().mean)
    np.testing.assert_allclose(mu.mean(0), mean_mu, atol=0.03)
    # E[Σ] = Ψ/(ν-d-1) = Ψ/3; heavy-tailed, so a loose 6% relative tolerance on the diagonal.
    np.testing.assert_allclose(sigma.mean(0), mean_sigma, atol=0.06)
    # Var[μ] = E[Σ]/κ.
    np.testing.assert_allclose(np.cov(np.asarray(mu).T), mean_sigma / KAPPA, atol=0.03)


def test_diag_variances_follow_inverse_gamma(key):
    _, var = unpack_niw(_diag().sample(key, (5_000,)), diagonal=True)
    for k in range(3):
        ref = stats.invgamma(DDF[k] / 2, scale=DSCALE[k] / 2)
        ks = stats.kstest(np.asarray(var[:, k]), ref.cdf)
        assert ks.pvalue > 1e-3  # fixed seed; false-failure budget 1e-3 per coordinate


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_mode_is_stationary(kind):
    q = _full() if kind == "full" else _diag()
    mode = q.mode
    grad = jax.grad(lambda v: q.log_prob(v))(mode)
    if kind == "full":
        # Σ is symmetric: the gradient in a symmetric direction is the symmetrised gradient.
        g_mu, g_sigma = unpack_niw(grad)
        g_sigma = 0.5 * (g_sigma + g_sigma.T)
        np.testing.assert_allclose(g_mu, 0.0, atol=1e-4)
        np.testing.assert_allclose(g_sigma, 0.0, atol=1e-3)
    else:
        np.testing.assert_allclose(grad, 0.0, atol=1e-4)


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_posterior_is_prior_times_likelihood(kind, key):
    """log post(φ) − log prior(φ) − log lik(x | φ) is the same constant at every φ."""
    q = _full() if kind == "full" else _diag()
    x = jax.random.normal(jax.random.fold_in(key, 1), (6, 3)) * 1.3 + 0.4
    post = q.posterior(x)
    phis = q.sample(jax.random.fold_in(key, 2), (5,))
    diffs = []
    for phi in phis:
        mu, sigma = unpack_niw(phi, diagonal=kind == "diag")
        if kind == "diag":
            sigma = jnp.diag(sigma)
        loglik = stats.multivariate_normal(np.asarray(mu), np.asarray(sigma)).logpdf(
            np.asarray(x)
        ).sum()
        diffs.append(float(post.log_prob(phi)) - float(q.log_prob(phi)) - loglik)
    np.testing.assert_allclose(diffs, diffs[0], atol=2e-3 * (1 + abs(diffs[0])))


def test_full_predictive_matches_scipy_and_monte_carlo(key):
    q = _full()
    pred = q.predictive()
    x = np.array([[0.0, -0.5, 1.5], [1.0, 1.0, 1.0]])
    dof = DF - 3 + 1
    ref = stats.multivariate_t(LOC, SCALE * (KAPPA + 1) / (KAPPA * dof), df=dof).logpdf(x)
    got = [float(pred.log_prob(row)) for row in x]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # Monte Carlo: the predictive density is E_{(μ,Σ)~NIW}[N(x | μ, Σ)].
    mu, sigma = unpack_niw(q.sample(key, (40_000,)))
    import numpyro.distributions as dist

    x0 = jnp.broadcast_to(jnp.asarray(x[0], dtype=mu.dtype), mu.shape)
    dens = jnp.exp(dist.MultivariateNormal(mu, sigma).log_prob(x0))
    np.testing.assert_allclose(jnp.log(dens.mean()), ref[0], atol=0.03)


def test_diag_predictive_matches_scipy():
    pred = _diag().predictive()
    x = np.array([0.1, 0.2, -0.3])
    sd = np.sqrt(DSCALE * (DKAPPA + 1) / (DKAPPA * DDF))
    ref = stats.t(DDF, DLOC, sd).logpdf(x).sum()
    np.testing.assert_allclose(pred.log_prob(x), ref, rtol=1e-5)


def _kl_gauss(m, v, mu, sigma):
    d = m.shape[-1]
    sinv = np.linalg.inv(sigma)
    diff = mu - m
    return 0.5 * (
        np.trace(sinv @ v, axis1=-2, axis2=-1)
        + np.einsum("...i,...ij,...j->...", diff, sinv, diff)
        - d
        + np.linalg.slogdet(sigma)[1]
        - np.linalg.slogdet(v)[1]
    )


def test_expected_kl_full_matches_monte_carlo(key):
    q = _full()
    m = np.array([0.2, -0.7, 1.5])
    v = np.array([[0.5, 0.1, 0.0], [0.1, 0.4, 0.05], [0.0, 0.05, 0.3]])
    mu, sigma = unpack_niw(q.sample(key, (100_000,)))
    mc = _kl_gauss(m, v, np.asarray(mu, np.float64), np.asarray(sigma, np.float64))
    se = mc.std() / np.sqrt(mc.size)
    got = float(q.expected_kl(m, v))
    assert abs(got - mc.mean()) < 4 * se + 1e-3, (got, mc.mean(), se)
    assert jnp.allclose(jax.jit(q.expected_kl)(m, v), got, rtol=1e-5)


def test_expected_kl_diag_matches_monte_carlo(key):
    q = _diag()
    m = np.array([0.2, -0.7, 1.5])
    v = np.array([0.5, 0.2, 0.9])
    mu, var = unpack_niw(q.sample(key, (100_000,)), diagonal=True)
    mu, var = np.asarray(mu, np.float64), np.asarray(var, np.float64)
    mc = 0.5 * np.sum(v / var + (mu - m) ** 2 / var - 1 + np.log(var) - np.log(v), axis=-1)
    se = mc.std() / np.sqrt(mc.size)
    got = float(q.expected_kl(m, v))
    assert abs(got - mc.mean()) < 4 * se + 1e-3, (got, mc.mean(), se)


def test_expected_kl_diag_with_infinite_kappa_drops_the_mean_term():
    a = DiagonalNormalInverseWishart(DLOC, jnp.inf, DSCALE, DDF).expected_kl(DLOC, DSCALE)
    b = DiagonalNormalInverseWishart(DLOC, DKAPPA, DSCALE, DDF).expected_kl(DLOC, DSCALE)
    np.testing.assert_allclose(b - a, 0.5 * np.sum(1 / DKAPPA), rtol=1e-5)


def test_pack_round_trip_and_bad_input():
    mu, sigma = jnp.ones(2), jnp.eye(2) * 3
    m2, s2 = unpack_niw(pack_niw(mu, sigma))
    np.testing.assert_array_equal(m2, mu)
    np.testing.assert_array_equal(s2, sigma)
    with pytest.raises(ValueError, match="scale"):
        NormalInverseWishart(jnp.zeros(2), 1.0, jnp.eye(3), 5.0)
    with pytest.raises(ValueError, match="x: expected"):
        _full().posterior(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="loc"):
        DiagonalNormalInverseWishart(0.0, 1.0, 1.0, 3.0)
    assert bool(_full().support(_full().mode))
    assert not bool(_full().support(pack_niw(jnp.zeros(3), -jnp.eye(3))))
