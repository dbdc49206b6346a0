"""NIW-Meta: exact closed form, SGLD Gaussian fit, learning, memory and sharding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from bayes.meta.base import network
from bayes.meta.niw_meta import (
    ggn_diagonal,
    local_posterior,
    sgld_gaussian_fit,
    variational_fit,
)
from bayes.meta.tasks import make_task
from bayes.meta.train import evaluate, make_learner, meta_train, step_memory_bytes
from bayes.niw import expected_kl_diag


def test_closed_form_local_posterior_is_the_exact_minimiser():
    """On a quadratic episode loss, (m*, γ*) minimises E_q[l] + E_q(φ)[KL] (numerically)."""
    rng = np.random.default_rng(0)
    d = 4
    c, a = rng.normal(size=d), rng.uniform(0.5, 3.0, d)  # l(θ) = ½ Σ a (θ − c)²
    m0, gam0, n0 = rng.normal(size=d), rng.uniform(0.2, 2.0, d), 2.5

    def objective(z):
        m, g = z[:d], jnp.exp(z[d:])
        f = 0.5 * jnp.sum(a * (m - c) ** 2 + a / g)  # E_{N(m, 1/g)}[l]
        return f + expected_kl_diag(m, 1 / g, m0, jnp.inf, 1 / gam0, n0)

    with jax.enable_x64(True):
        fun = jax.jit(jax.value_and_grad(objective))
        res = optimize.minimize(
            lambda z: tuple(np.asarray(v, np.float64) for v in fun(jnp.asarray(z))),
            np.zeros(2 * d), jac=True, method="BFGS", options={"gtol": 1e-10},
        )
    f32 = lambda v: np.asarray(v, np.float32)
    m_star, gam_star = local_posterior(f32(c), f32(a), f32(m0), f32(n0 * gam0))
    np.testing.assert_allclose(res.x[:d], m_star, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.exp(res.x[d:]), gam_star, rtol=1e-3)
    # Taylor form: expanding l about a point m̄ that is not its mode, with g = ∇l(m̄), gives the
    # same exact minimiser.
    m_bar = f32(rng.normal(size=d))
    m_t, gam_t = local_posterior(m_bar, f32(a), f32(m0), f32(n0 * gam0), f32(a * (m_bar - c)))
    np.testing.assert_allclose(m_t, res.x[:d], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gam_t, gam_star, rtol=1e-6)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_ggn_diagonal_equals_the_hessian_diagonal_of_a_linear_model(key, kind):
    """For outputs linear in θ the GGN is the exact Hessian of the summed NLL (softmax/Gaussian)."""
    n, f, c = 7, 3, (1 if kind == "regression" else 4)
    kx, kt, ky = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n, f))
    theta = jax.random.normal(kt, (f * c + c,))
    apply = lambda th, xx: xx @ th[: f * c].reshape(f, c) + th[None, f * c :]
    sigma = 0.7
    if kind == "regression":
        y = jax.random.normal(ky, (n,))
        energy = lambda th: jnp.sum(0.5 * ((y - apply(th, x)[:, 0]) / sigma) ** 2)
    else:
        y = jax.random.randint(ky, (n,), 0, c)
        energy = lambda th: -jnp.sum(
            jnp.take_along_axis(jax.nn.log_softmax(apply(th, x)), y[:, None], axis=1)
        )
    want = jax.jit(lambda th: jnp.diag(jax.hessian(energy)(th)))(theta)
    got = jax.jit(lambda th: ggn_diagonal(apply, th, x, kind, sigma))(theta)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_sgld_gaussian_fit_recovers_a_gaussian_target(key):
    """Plain SGLD at temperature τ on U = ½ Σ a (θ − c)² samples N(c, τ/a); the fit recovers c
    and the precision a/τ of the tempered target."""
    c = jnp.array([1.0, -2.0, 0.5])
    a = jnp.array([1.0, 4.0, 2.0])
    energy = lambda th: 0.5 * jnp.sum(a * (th - c) ** 2)
    fit = jax.jit(
        lambda k: sgld_gaussian_fit(
            k, energy, jnp.zeros(3), steps=40_000, burnin=1_000, step_size=1e-2,
            preconditioner="none", a_max=1e6, temperature=0.5,
        )
    )(key)
    # Autocorrelation time ~2/(aε) ≤ 200 steps ⇒ ≳ 190 effective samples; ~3.5-sigma tolerances.
    np.testing.assert_allclose(fit.mean, c, atol=0.25)
    np.testing.assert_allclose(fit.precision, a / 0.5, rtol=0.35)
    assert float(fit.clamped_frac) == 0.0


def test_variational_fit_recovers_the_conjugate_posterior(key):
    """Quadratic U and a Gaussian prior: the VI optimum is the exact posterior N(m*, 1/γ*)."""
    c = jnp.array([1.0, -2.0, 0.5, 3.0])
    a = jnp.array([1.0, 4.0, 0.5, 2.0])
    m0, prior = jnp.array([0.0, 0.5, -1.0, 2.0]), jnp.array([2.0, 1.0, 0.5, 4.0])
    energy = lambda th: 0.5 * jnp.sum(a * (th - c) ** 2)
    fit = jax.jit(lambda k: variational_fit(k, energy, m0, prior, steps=3000, learning_rate=3e-3))
    m, gam = fit(key)
    m_star, gam_star = local_posterior(c, a, m0, prior)
    np.testing.assert_allclose(m, m_star, atol=0.08)
    np.testing.assert_allclose(gam, gam_star, rtol=0.15)
    with pytest.raises(ValueError, match="steps"):
        variational_fit(key, energy, m0, prior, steps=-1, learning_rate=1e-2)


def test_sgld_fit_clamps_and_reports(key):
    energy = lambda th: 0.5 * jnp.sum(th**2)
    fit = sgld_gaussian_fit(key, energy, jnp.zeros(5), steps=4, burnin=1, step_size=1e-3,
                            a_max=10.0)
    assert float(fit.clamped_frac) == 1.0  # adam spread ~1e-3 ⇒ 1/var ≫ 10
    np.testing.assert_allclose(fit.precision, 10.0)
    with pytest.raises(ValueError, match="steps - burnin"):
        sgld_gaussian_fit(key, energy, jnp.zeros(5), steps=3, burnin=3, step_size=1e-3)


def test_adam_sgld_random_walks_flat_weights_at_any_positive_temperature(key):
    """Adam normalises the noisy gradient, so a weight the energy does not depend on moves by
    ~ε per step at τ = 1e-8 as at τ = 1e-2 (a random walk away from the start); at τ = 0 it stays
    put and the chain is Adam descent on the constrained weights."""
    c = jnp.array([1.0, -2.0])
    energy = lambda th: 0.5 * jnp.sum((th[:2] - c) ** 2)  # th[2:] are flat directions
    start = jnp.zeros(10)

    def chain(temp):
        return jax.jit(lambda k: sgld_gaussian_fit(
            k, energy, start, steps=1000, burnin=500, step_size=0.01, temperature=temp,
        ))(key)

    warm, tiny = (np.asarray(chain(t).mean[2:]) for t in (1e-2, 1e-8))
    assert np.mean(np.abs(warm)) > 0.05, warm  # ~ε·√steps, not 0
    np.testing.assert_allclose(tiny, warm, rtol=1e-3, atol=1e-4)  # the noise scale cancels
    cold = chain(0.0)
    np.testing.assert_array_equal(np.asarray(cold.mean[2:]), 0.0)
    np.testing.assert_allclose(cold.mean[:2], c, atol=0.02)


def test_niw_meta_learns_sinusoid_and_beats_its_initialisation(key):
    task = make_task("sinusoid")
    learner = make_learner(
        "niw", task, sgld_steps=10, burnin=2, test_sgld_steps=20, learning_rate=1e-2
    )
    state0 = learner.init(key)
    before, _, _ = evaluate(learner, state0, task, jax.random.key(7), episodes=100)
    state, log = meta_train(learner, task, jax.random.key(1), steps=200, batch=8)
    after, _, _ = evaluate(learner, state, task, jax.random.key(7), episodes=100)
    assert after["mse"] < 0.8 * before["mse"], (before, after)
    assert np.isfinite(log[-1]["loss"])
    # The Laplace (GGN) precisions do not saturate at a_max (the SGLD-variance ones all did).
    assert log[-1]["clamped_frac"] < 0.5 and 0.0 <= log[-1]["floor_frac"] < 1.0, log[-1]


def test_memory_flat_for_niw_and_growing_for_maml(key):
    """Compiled step memory: NIW-Meta does not grow with SGLD steps; MAML grows with inner steps."""
    task = make_task("sinusoid")
    eps = task.sample(key, 8)
    mem = {}
    for method, field in (("niw", "sgld_steps"), ("maml", "inner_steps")):
        for steps in (3, 15):
            kw = {field: steps}
            if method == "niw":
                kw["burnin"] = 1
            learner = make_learner(method, task, **kw)
            mem[method, steps] = step_memory_bytes(learner, learner.init(key), eps)
    assert mem["niw", 15] <= 1.1 * mem["niw", 3], mem
    assert mem["maml", 15] >= 2.0 * mem["maml", 3], mem


def test_sharded_step_matches_single_device(multi_device):
    out = multi_device(
        """
        import jax, numpy as np
        from bayes.meta.tasks import make_task
        from bayes.meta.train import make_learner, data_mesh, shard_episodes, replicate
        assert len(jax.devices()) == 4
        task = make_task("sinusoid")
        learner = make_learner("niw", task)
        state = learner.init(jax.random.key(0))
        eps = task.sample(jax.random.key(1), 8)
        s1, i1 = learner.step(jax.random.key(2), state, eps)
        mesh = data_mesh()
        sharded = shard_episodes(eps, mesh)
        assert len(sharded.x_support.sharding.device_set) == 4
        s4, i4 = learner.step(jax.random.key(2), replicate(state, mesh), sharded)
        for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s4.params)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(i1.loss, i4.loss, rtol=1e-4)
        print("OK", len(s4.params.m0.sharding.device_set))
        """
    )
    assert out.split()[-2:] == ["OK", "4"]


def test_mean_predictive_is_the_plug_in_limit_of_the_sample_average(key):
    """``test_predictive="mean"`` predicts at mᵢ: equal to the S-sample average when the episode
    posterior is a point (huge prior precision), and different from it otherwise."""
    task = make_task("sinusoid")
    eps = task.sample(key, 4, "test")
    k = jax.random.key(3)
    preds = {}
    for gam0 in (1e12, 1.0):
        for mode in ("samples", "mean"):
            learner = make_learner("niw", task, gam0_init=gam0, test_predictive=mode,
                                   sgld_steps=3, burnin=1, test_sgld_steps=3)
            preds[gam0, mode] = np.asarray(learner.predict(k, learner.init(key), eps))[..., 0]
    np.testing.assert_allclose(preds[1e12, "mean"], preds[1e12, "samples"], rtol=0, atol=1e-4)
    assert np.max(np.abs(preds[1.0, "mean"] - preds[1.0, "samples"])) > 1e-2
    with pytest.raises(ValueError, match="test_predictive"):
        make_learner("niw", task, test_predictive="median")


def test_test_time_sgld_settings_change_prediction_only(key):
    """``test_sgld_step_size``/``test_temperature`` act at test time only: None reproduces the
    training values exactly, other values change the prediction but never the meta-step."""
    task = make_task("letter")
    eps = task.sample(key, 2, "test")
    k = jax.random.key(5)
    common = dict(sgld_steps=3, burnin=1, test_sgld_steps=4, test_predictive="mean")
    variants = {
        "none": dict(test_sgld_step_size=None, test_temperature=None),
        "same": dict(test_sgld_step_size=0.03, test_temperature=0.01),
        "cold": dict(test_sgld_step_size=0.01, test_temperature=1e-4),
    }
    preds, steps = {}, {}
    for name, kw in variants.items():
        learner = make_learner("niw", task, sgld_step_size=0.03, temperature=0.01, **common, **kw)
        state = learner.init(key)
        preds[name] = np.asarray(learner.predict(k, state, eps))
        steps[name] = np.asarray(learner.step(k, state, eps)[0].params.m0)
    np.testing.assert_array_equal(preds["none"], preds["same"])
    assert np.max(np.abs(preds["cold"] - preds["none"])) > 1e-3
    np.testing.assert_array_equal(steps["cold"], steps["none"])


def test_test_burnin_is_a_fraction_of_the_test_chain(key):
    """``test_burnin=0.5`` of a 6-step test chain keeps states 3..5: the same prediction as a
    training burn-in of 3 used at test time; it changes the prediction against the training
    burn-in (1) and leaves the meta-step alone."""
    task = make_task("letter")
    eps = task.sample(key, 2, "test")
    k = jax.random.key(6)
    common = dict(sgld_steps=4, test_sgld_steps=6, test_predictive="mean",
                  test_sgld_step_size=0.01, test_temperature=1e-4)
    half = make_learner("niw", task, burnin=1, test_burnin=0.5, **common)
    three = make_learner("niw", task, burnin=3, **common)
    train_burnin = make_learner("niw", task, burnin=1, **common)
    state = half.init(key)
    p_half, p_three, p_train = (np.asarray(lr.predict(k, state, eps))
                                for lr in (half, three, train_burnin))
    np.testing.assert_array_equal(p_half, p_three)
    assert np.max(np.abs(p_half - p_train)) > 1e-4
    np.testing.assert_array_equal(np.asarray(half.step(k, state, eps)[0].params.m0),
                                  np.asarray(train_burnin.step(k, state, eps)[0].params.m0))
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="test_burnin"):
            make_learner("niw", task, test_burnin=bad)


def test_test_prior_scale_multiplies_the_test_prior_precision(key):
    """With n₀ = 1 the mode prior (n₀ + 3)γ₀ is the expected prior n₀γ₀ times 4: scaling the
    expected prior by 4 gives the mode's prediction exactly, and a scale of 0.1 changes it."""
    task = make_task("sinusoid")
    eps = task.sample(key, 3, "test")
    k = jax.random.key(8)
    common = dict(sgld_steps=4, burnin=1, test_sgld_steps=6, test_predictive="mean",
                  n0_init=1.0, gam0_init=10.0)
    mode = make_learner("niw", task, test_prior="mode", **common)
    state = mode.init(key)
    p_mode = np.asarray(mode.predict(k, state, eps))
    p_four = np.asarray(make_learner("niw", task, test_prior="expected", test_prior_scale=4.0,
                                     **common).predict(k, state, eps))
    p_tenth = np.asarray(make_learner("niw", task, test_prior="expected", test_prior_scale=0.1,
                                      **common).predict(k, state, eps))
    np.testing.assert_allclose(p_four, p_mode, rtol=0, atol=1e-6)
    assert np.max(np.abs(p_tenth - p_mode)) > 1e-3
    with pytest.raises(ValueError, match="test_prior_scale"):
        make_learner("niw", task, test_prior_scale=0.0)


def test_zero_test_temperature_is_deterministic_and_validated(key):
    """τ = 0 at test time: the fit is Adam descent, so two keys give the same prediction (τ > 0
    does not); negative τ and τ = 0 with the Laplace precision (divided by τ) are refused."""
    task = make_task("letter")
    eps = task.sample(key, 2, "test")
    common = dict(sgld_steps=3, burnin=1, test_sgld_steps=6, test_burnin=0.5,
                  test_predictive="mean", precision="sgld")
    cold = make_learner("niw", task, test_temperature=0.0, **common)
    warm = make_learner("niw", task, test_temperature=1e-2, **common)
    state = cold.init(key)
    k1, k2 = jax.random.key(1), jax.random.key(2)
    np.testing.assert_array_equal(np.asarray(cold.predict(k1, state, eps)),
                                  np.asarray(cold.predict(k2, state, eps)))
    diff = np.asarray(warm.predict(k1, state, eps)) - np.asarray(warm.predict(k2, state, eps))
    assert np.max(np.abs(diff)) > 1e-4
    with pytest.raises(ValueError, match="test_temperature"):
        make_learner("niw", task, test_temperature=-1.0)
    with pytest.raises(ValueError, match="test_temperature: 0 needs"):
        make_learner("niw", task, test_temperature=0.0, precision="ggn")


def test_vi_test_time_tempers_the_support_energy(key):
    """``test_inference="vi"`` fits q to exp(−U/τ)·N(m₀, 1/P) with τ = ``test_vi_temperature``
    (None: the training temperature, the posterior the training chain targets): the plug-in
    prediction equals a direct :func:`variational_fit` on U/τ; τ = 1 differs. τ <= 0 is
    refused."""
    task = make_task("sinusoid")
    eps = task.sample(key, 3, "test")
    k = jax.random.key(9)
    common = dict(test_inference="vi", test_predictive="mean", test_vi_steps=30,
                  test_vi_lr=1e-2, temperature=0.01, test_prior="mode")
    learners = {t: make_learner("niw", task, test_vi_temperature=t, **common)
                for t in (None, 0.01, 1.0)}
    state = learners[None].init(key)
    preds = {t: np.asarray(lr.predict(k, state, eps))[..., 0] for t, lr in learners.items()}
    net, p = network(task), state.params
    prior = (jnp.exp(p.log_n0) + 3.0) * jnp.exp(p.log_gam0)
    direct = []
    for i, k_ep in enumerate(jax.random.split(k, 3)):
        x_s, y_s = eps.x_support[i], eps.y_support[i]
        energy = lambda th, x_s=x_s, y_s=y_s: x_s.shape[0] * net.nll(task, th, x_s, y_s) / 0.01
        m_i, _ = variational_fit(jax.random.split(k_ep)[0], energy, p.m0, prior, steps=30,
                                 learning_rate=1e-2)
        direct.append(np.asarray(net.apply(m_i, eps.x_query[i]))[:, 0])
    np.testing.assert_array_equal(preds[None], preds[0.01])
    np.testing.assert_allclose(preds[0.01], np.stack(direct), rtol=0, atol=1e-4)
    assert np.max(np.abs(preds[0.01] - preds[1.0])) > 1e-3
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="test_vi_temperature"):
            make_learner("niw", task, test_inference="vi", test_vi_temperature=bad)


def test_constant_test_precision_is_the_closed_form_at_a_max(key):
    """``test_precision="constant"`` (the official ``use_gami=0``): the test closed form uses
    A = a_max on every weight, mᵢ = (a_max m̄ + P m₀)/(a_max + P), checked against a fit run by
    hand with the learner's keys; the iterate-variance precision gives another prediction."""
    task = make_task("sinusoid")
    eps = task.sample(key, 3, "test")
    common = dict(sgld_steps=4, burnin=1, precision="sgld", test_sgld_steps=8, test_burnin=0.5,
                  test_sgld_step_size=0.01, test_temperature=0.0, test_predictive="mean",
                  test_prior="expected", n0_init=2.0, gam0_init=1e3, a_max=1e6)
    const = make_learner("niw", task, test_precision="constant", **common)
    state = const.init(key)
    k = jax.random.key(3)
    got = np.asarray(const.predict(k, state, eps))
    net = network(task)
    m0, prior, a_max = state.params.m0, 2.0 * 1e3, 1e6
    for i, k_ep in enumerate(jax.random.split(k, 3)):
        k_fit, _ = jax.random.split(k_ep)
        x, y = eps.x_support[i], eps.y_support[i]
        energy = lambda th, x=x, y=y: x.shape[0] * net.nll(task, th, x, y)
        fit = sgld_gaussian_fit(k_fit, energy, m0,
                                steps=8, burnin=4, step_size=0.01, temperature=0.0, a_max=a_max)
        assert float(fit.clamped_frac) < 0.9  # the iterate-variance precision is not a_max
        m_i = (a_max * fit.mean + prior * m0) / (a_max + prior)
        want = np.asarray(net.apply(m_i, eps.x_query[i]))[:, 0]
        np.testing.assert_allclose(got[i, :, 0], want, rtol=1e-4, atol=1e-5)
    sgld = np.asarray(make_learner("niw", task, **common).predict(k, state, eps))
    assert np.max(np.abs(sgld - got)) > 1e-3
    with pytest.raises(ValueError, match="test_precision"):
        make_learner("niw", task, test_precision="laplace")
    with pytest.raises(ValueError, match="precision"):
        make_learner("niw", task, precision="diag")


def test_protonet_likelihood_is_the_closed_form_on_prototype_logits(key):
    """``likelihood="protonet"`` (NIW-Meta on ProtoNet, the paper's PMF deployment): θ is the
    embedding only, the support fit runs on the support's cross-entropy against its own
    prototypes, and a query's logits are ProtoNet's at mᵢ; checked against a fit run by hand."""
    from bayes.meta.protonet import prototype_logits

    task = make_task("letter")
    eps = task.sample(key, 3, "test")
    learner = make_learner("niw", task, likelihood="protonet", sgld_steps=4, burnin=1,
                           test_sgld_steps=6, test_burnin=0.5, test_sgld_step_size=0.01,
                           test_temperature=1e-3, test_predictive="mean", test_prior="expected",
                           n0_init=2.0, gam0_init=10.0)
    state = learner.init(key)
    emb = network(task, embedding=True)
    assert state.params.m0.shape == (emb.dim,) and emb.dim < network(task).dim  # no head
    k = jax.random.key(3)
    got = np.asarray(learner.predict(k, state, eps))
    m0, prior = state.params.m0, 2.0 * 10.0
    for i, k_ep in enumerate(jax.random.split(k, 3)):
        k_fit, _ = jax.random.split(k_ep)
        x, y = eps.x_support[i], eps.y_support[i]

        def energy(th, x=x, y=y):
            z = emb.apply(th, x)
            logits = prototype_logits(z, y, z, task.n_way)
            # τ > 0: at τ = 0 this eager run and the jitted learner differed by up to 0.005 in
            # probability (Adam divides by the gradient's RMS, so round-off on weights with a
            # near-zero gradient becomes steps of ~ε); the Langevin noise swamps the round-off.
            return x.shape[0] * jnp.mean(task.point_loss(logits, y))

        fit = sgld_gaussian_fit(k_fit, energy, m0, steps=6, burnin=3, step_size=0.01,
                                temperature=1e-3)
        m_i = (fit.precision * fit.mean + prior * m0) / (fit.precision + prior)
        logits = prototype_logits(emb.apply(m_i, x), y, emb.apply(m_i, eps.x_query[i]),
                                  task.n_way)
        np.testing.assert_allclose(got[i], np.asarray(jax.nn.softmax(logits)), rtol=1e-4,
                                   atol=1e-5)
    # Meta-training runs and reports finite diagnostics.
    state, info = learner.step(jax.random.key(4), state, task.sample(jax.random.key(5), 4))
    assert np.isfinite(float(info.loss)) and np.isfinite(float(info.query_nll))
    with pytest.raises(ValueError, match="likelihood"):
        make_learner("niw", make_task("sinusoid"), likelihood="protonet")
    with pytest.raises(ValueError, match="likelihood"):
        make_learner("niw", task, likelihood="gaussian")
    with pytest.raises(ValueError, match="precision"):
        make_learner("niw", task, likelihood="protonet", precision="ggn")


@pytest.mark.parametrize("field, value, message", [
    ("sgld_steps", 0, "expected 0 <= burnin < sgld_steps, got 0, 10"),
    ("burnin", 50, "expected 0 <= burnin < sgld_steps, got 50, 50"),
    ("sgld_step_size", 0.0, "sgld_step_size: expected > 0"),
    ("test_sgld_step_size", -1e-3, "test_sgld_step_size: expected > 0"),
    ("learning_rate", 0.0, "learning_rate: expected > 0"),
    ("a_max", 1e-5, "a_max: expected > a_min"),
    ("kl_weight", -1.0, "kl_weight: expected >= 0"),
    ("n_samples_test", 0, "n_samples_test: expected >= 1"),
    ("test_sgld_steps", 0, "test_sgld_steps: expected None or >= 1"),
])
def test_niw_numeric_hyper_parameters_are_checked_at_build_time(field, value, message):
    from bayes.meta.train import make_learner

    task = make_task("sinusoid")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make_learner("niw", task, **{field: value})


def test_evaluate_refuses_empty_evaluations():
    from bayes.meta.train import evaluate, evaluation_classes, make_learner

    task = make_task("letter")
    learner = make_learner("protonet", task)
    state = learner.init(jax.random.key(0))
    with pytest.raises(ValueError, match="episodes, batch: expected >= 1, got 0, 100"):
        evaluate(learner, state, task, jax.random.key(1), episodes=0)
    with pytest.raises(ValueError, match="episodes, batch: expected >= 1, got 10, 0"):
        evaluation_classes(task, jax.random.key(1), episodes=10, batch=0)
