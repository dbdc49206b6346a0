"""NIW-Meta: hierarchical Bayesian few-shot meta-learning with a diagonal NIW over all weights.

Global q(φ) = NIW(m₀, l₀ = ∞, V₀ = diag(γ₀), n₀) over the mean and (diagonal) covariance of the
episode weights θ (every weight of the backbone, flattened). For each episode:

1. an SGLD chain on the support likelihood, started at stop_gradient(m₀), gives a Gaussian fit
   (m̄ᵢ, Aᵢ) = (sample mean, clip(1/unbiased variance, a_min, a_max)) of its post-burn-in states;
2. the closed-form local posterior (note §1.5) γᵢ = Aᵢ + n₀γ₀, mᵢ = (Aᵢm̄ᵢ + n₀γ₀m₀)/γᵢ;
3. the outer loss is the query NLL at reparameterised samples θ = mᵢ + ε/√γᵢ plus the expected
   KL E_q(φ)[KL(N(mᵢ, 1/γᵢ) ‖ N(μ, Σ))] (:func:`bayes.niw.expected_kl_diag`), divided by the
   number of query points (the per-episode ELBO per query point, times ``kl_weight``).

(m₀, log γ₀, log n₀) are trained with optax Adam; gradients reach them only through the closed
form (the SGLD run is a constant), so memory does not grow with the number of SGLD steps.

Test time (note §1.8): φ* = mode of q(φ) (prior precision (n₀+3)γ₀, ``test_prior="mode"``) or
its mean precision n₀γ₀ (``"expected"``), the same SGLD fit + closed form on the support, and
predictions averaged over ``n_samples_test`` weight samples (``test_predictive="samples"``, the
paper's choice) or made at the posterior mean mᵢ (``"mean"``, a plug-in deviation chosen per task
on validation episodes where the sample noise of a low precision hurts). The test-time SGLD run
may differ from the training one (``test_sgld_steps``, ``test_sgld_step_size``,
``test_temperature``; None = the training value): with the Adam preconditioner every coordinate
moves by about ε per step, so a long run at the training ε = 0.03 and τ = 0.01 random-walks away
from the meta-learned m₀ (digits val accuracy 96% at 20 steps, 89-94% at 100); a finer, colder
run (ε = 0.01, τ = 1e-4, 100 steps) adapts further with less drift (97.5%). Lowering τ does not
remove the drift: Adam divides the noisy gradient by its RMS, so on a weight whose support
gradient is small next to the noise √(τ/ε)ξ the step is ≈ ±ε whatever τ > 0 (the same random walk
at τ = 1e-8 as at 1e-2). Only ``test_temperature=0`` (a deviation: the chain is then Adam descent
on the support NLL and the Gaussian fit is taken over its kept iterates, i.e. Polyak averaging)
ends the random walk: a weight with no support gradient stays at m₀, the others follow their
gradient. Digits val accuracy after 1000 test steps (a state meta-trained with the 5-step chain):
94.4% at τ = 1e-4 and 98.5% at τ = 0. τ = 0 requires ``precision="sgld"`` (the Laplace precision is
divided by τ).

VI at test time (``test_inference="vi"``; the note's reading of the paper's eq. (13), "a
variational approach starting from a mode of the task-global posterior"): q = N(m, 1/γ) fitted
from (m₀, P) by reparameterised Adam steps on E_q[U/τ] + KL(q ‖ N(m₀, 1/P)), with τ =
``test_vi_temperature`` (None: the training temperature, so VI targets the same tempered
posterior exp(−U/τ)·prior as the training chain, against whose precisions n₀γ₀ was learned).
Untempered (τ = 1) the learned prior holds q at m₀: digits val accuracy (the benchmark's state,
200 episodes) 32-35%, against 95-97% tempered (100 VI steps; 96.4% with 300) and 98.96% for the
SGLD closed form (100 steps at τ = 0).

Tempered test prior (``test_prior_scale``, a deviation, 1 = the paper): the prior precision at
test time times a factor. Training reparameterises weight samples θ = mᵢ + ε/√γᵢ; on the many
weights no support point constrains (``floor_frac``, 67-87% on SineLine after 500 meta-steps)
γᵢ is the prior's, so the query loss rewards a large n₀γ₀, which then shrinks the support fit
toward m₀ at test time.
SineLine val MSE after 5000 meta-steps (200 episodes, expected prior, plug-in, 500 steps, burn-in
0.5): 1.17 at scale 1, 0.97 at 0.3, 0.95 at 0.1. The regression test grid tries 1 and 0.1.

Burn-in of the test chain (``test_burnin``): m̄ is the mean of the kept states, so a chain that
is still moving away from m₀ averages its own transient. The training chain keeps states from
``burnin`` on (2 of 5 steps, 10 of 50); a test chain of 100-500 steps with the same burn-in
averages mostly transient states, and m̄ lags the chain (about its state half way for a steady
drift). ``test_burnin`` = a fraction f of the test steps (standard MCMC practice: discard the
first part of a long chain) keeps only states ``⌊f·steps⌋`` on; None keeps the training burn-in
(the paper's single setting). Chosen per task on validation episodes with the rest of the test
time.

Constant precision (``precision``/``test_precision="constant"``; the official flag
``use_gami=0``, note §2.2): A = ``a_max`` on every weight instead of the chain's 1/variance.
The training chain (20 Adam-SGLD steps at τ = 0.01) saturates A at ``a_max`` on most weights
(85% on digits over the first 20 meta-steps), so n₀γ₀ is learned against A ≈ ``a_max``. A test
chain at τ = 0 is Adam descent, and 1/variance of its kept iterates then measures how far each
weight is still moving, not its curvature: the weights the support moves most get the smallest
A and are shrunk back toward m₀ hardest. ``test_precision="constant"`` keeps the training-time
balance at test.
Measured on digits (README "meta", development fold, 300 test steps at ε = 0.01): no effect
(NIW − scratch +1.22 vs +1.24 points), because that chain has settled and A saturates anyway;
meta-training with ``temperature=0, precision="constant"`` gave +1.13. Neither is a default.

Why the GGN (Laplace) precision fails for classification (``precision="ggn"``; measured on
Letter): the softmax curvature of 25 support points is small (≤ 1/4 per point and output), so
the closed form shrinks the support fit m̄ toward m₀ by a factor n₀γ₀/(A + n₀γ₀) that is large.
With per-episode label permutations m₀ carries no label information, so every bit of shrinkage
undoes adaptation: at γ₀ = 1e4 (mᵢ ≈ m₀) val accuracy is chance (21%), at γ₀ = 100 it reaches
44% after 1000 meta-steps, while the saturated SGLD precision (A = ``a_max`` ≫ n₀γ₀, so mᵢ ≈ m̄)
gives 74-77%. A small γ₀ would remove the shrinkage but its prior samples (std 1/√γ₀ on the
~55% of weights no support point constrains, ``floor_frac``) then swamp the query loss.

ProtoNet likelihood (``likelihood="protonet"``; the paper's own classification deployment,
NIW-Meta on PMF, note §2.3): θ is the embedding network only (the task backbone without its
head, as for :func:`bayes.meta.protonet.protonet`), and every likelihood is the ProtoNet
cross-entropy against the support prototypes at θ. The outer loss scores the query set; the SGLD
fit scores the support set against its own prototypes (each support point is included in its
class mean; PMF's fine-tuning instead draws pseudo-queries by data augmentation, which these
tasks do not define). There are no head weights, so the per-episode label permutation no longer
leaves part of m₀ without meaning. It needs ``precision="sgld"`` or ``"constant"``.
Measured on digits (README "meta"): a tie with the softmax head and with scratch at 5 shots,
a loss to scratch at 1 shot (−2.30 ± 0.67 points), where each support point is its own
prototype and the support fit only pushes the embeddings apart.

Choices where the paper is unverified (see the project note), documented here:
    * the Adam-preconditioned SGLD of the (second-hand) official code by default, U = n_support x
      mean support NLL, with Adam's learning rate ε given directly (the port's alp/N_i); plain SGLD
      is available (``preconditioner="none"``) but diverges unless ε is tiny; running sums keep
      memory O(d);
    * the SGLD fit uses the support set and the outer likelihood uses the query set (like MAML);
    * l₀ = ∞ (the 1/l₀ term of the expected KL is dropped; it only pushes l₀ → ∞), no global KL
      (the (1/N)-weighted term vanishes with many episodes); one scalar n₀, one γ₀ per weight.

References:
    Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024
    (arXiv 2306.09702). Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin
    Dynamics", ICML 2011.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayes.meta.base import MetaLearner, network, predictive_from_samples
from bayes.meta.local_fit import (
    GaussianFit,
    _clip_fractions,
    ggn_diagonal,
    sgld_gaussian_fit,
    variational_fit,
)
from bayes.meta.niw_config import NIWMetaConfig, resolve
from bayes.meta.protonet import prototype_logits
from bayes.meta.tasks import Task
from bayes.niw import expected_kl_diag

__all__ = [
    "GaussianFit",
    "NIWMetaConfig",
    "NIWMetaParams",
    "NIWMetaState",
    "NIWMetaInfo",
    "sgld_gaussian_fit",
    "ggn_diagonal",
    "variational_fit",
    "local_posterior",
    "niw_meta",
]


def local_posterior(
    fit_mean: jax.Array,
    fit_precision: jax.Array,
    m0: jax.Array,
    prior_precision: jax.Array,
    fit_grad: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Closed-form minimiser of the quadratic episode loss + expected KL (note §1.5).

    Returns (mᵢ, γᵢ) with γᵢ = A + P and mᵢ = (A m̄ − g + P m₀)/γᵢ, P = n₀γ₀ the prior precision.
    ``fit_grad`` g = ∇l(m̄) is 0 (the default) when m̄ is the mode of the quadratic, as in the note;
    with the Taylor expansion l(θ) ≈ l(m̄) + gᵀ(θ − m̄) + ½(θ − m̄)ᵀA(θ − m̄) about a point that is
    not a mode, the quadratic's minimiser is m̄ − g/A and the same algebra gives the g term.
    """
    gamma = fit_precision + prior_precision
    num = fit_precision * fit_mean + prior_precision * m0
    if fit_grad is not None:
        num = num - fit_grad
    return num / gamma, gamma


class NIWMetaParams(NamedTuple):
    """Meta-parameters L₀: m₀ ``(d,)``, log γ₀ ``(d,)``, log n₀ ``()``."""

    m0: jax.Array
    log_gam0: jax.Array
    log_n0: jax.Array


class NIWMetaState(NamedTuple):
    params: NIWMetaParams
    opt_state: optax.OptState


class NIWMetaInfo(NamedTuple):
    """Diagnostics of one meta-step (batch means)."""

    loss: jax.Array
    query_nll: jax.Array
    kl: jax.Array
    clamped_frac: jax.Array
    floor_frac: jax.Array
    n0: jax.Array
    prior_precision: jax.Array


_DEFAULT_CONFIG = NIWMetaConfig()


def niw_meta(task: Task, config: NIWMetaConfig = _DEFAULT_CONFIG) -> MetaLearner:
    """Builds NIW-Meta for ``task``: ``init``/``step``/``predict`` (see :class:`MetaLearner`).

    Example:
        >>> from bayes.meta.tasks import make_task
        >>> task = make_task("sinusoid")
        >>> learner = niw_meta(task)
        >>> state = learner.init(jax.random.key(0))
        >>> state, info = learner.step(jax.random.key(1), state, task.sample(jax.random.key(2), 4))
    """
    t = resolve(config, task)
    proto, test_precision, test_steps, test_burnin = (t.proto, t.test_precision, t.test_steps,
                                                      t.test_burnin)
    test_step_size, test_temp, vi_temp = t.test_step_size, t.test_temperature, t.vi_temperature
    net = network(task, embedding=proto)
    opt = optax.adam(config.learning_rate)

    def outputs(theta, x_s, y_s, x):
        """Logits (or regression outputs) of ``x``; ProtoNet: against the support prototypes.

        ``x=None`` scores the support set itself (one forward pass)."""
        if not proto:
            return net.apply(theta, x_s if x is None else x)
        if x is None:
            z_s = z = net.apply(theta, x_s)
        else:  # one forward pass over support and query together
            zz = net.apply(theta, jnp.concatenate([x_s, x]))
            z_s, z = zz[: x_s.shape[0]], zz[x_s.shape[0]:]
        return prototype_logits(z_s, y_s, z, task.n_way)

    def nll(theta, x_s, y_s, x=None, y=None):
        """Mean per-point NLL of ``(x, y)`` (default: the support set itself); the support
        enters only the ProtoNet prototypes."""
        return jnp.mean(task.point_loss(outputs(theta, x_s, y_s, x), y_s if x is None else y))

    def fit(key, m0, x, y, steps, step_size=config.sgld_step_size, temp=config.temperature,
            burnin=config.burnin, precision_kind=config.precision):
        """(m̄, A, g, (clamped_frac, floor_frac)) for one support set; constants w.r.t. L₀."""
        n = x.shape[0]
        energy = lambda th: n * nll(th, x, y)
        g = sgld_gaussian_fit(
            key, energy, jax.lax.stop_gradient(m0), steps=steps,
            burnin=burnin, step_size=step_size,
            temperature=temp, a_min=config.a_min, a_max=config.a_max,
            preconditioner=config.preconditioner,
        )
        mean, precision, clamped = g.mean, g.precision, (g.clamped_frac, g.floor_frac)
        if precision_kind == "constant":  # the official use_gami=0: A = a_max everywhere
            precision = jnp.full_like(precision, config.a_max)
            clamped = (jnp.ones((), jnp.float32), jnp.zeros((), jnp.float32))
        elif precision_kind == "ggn":
            # Laplace precision of the tempered episode posterior exp(−U/τ) the SGLD targets.
            raw = ggn_diagonal(net.apply, mean, x, task.kind, task.lik_std) / temp
            clamped = _clip_fractions(raw, config.a_min, config.a_max)
            precision = jnp.clip(raw, config.a_min, config.a_max)
        grad = jax.grad(energy)(mean) / temp if config.taylor else None
        return mean, precision, grad, clamped

    def episode_loss(params, key, x_s, y_s, x_q, y_q):
        k_fit, k_eps = jax.random.split(key)
        gam0, n0 = jnp.exp(params.log_gam0), jnp.exp(params.log_n0)
        mean, precision, grad, clamped = fit(k_fit, params.m0, x_s, y_s, config.sgld_steps)
        m_i, gam_i = local_posterior(mean, precision, params.m0, n0 * gam0, grad)
        eps = jax.random.normal(k_eps, (config.n_samples, net.dim))
        thetas = m_i[None, :] + eps / jnp.sqrt(gam_i)[None, :]
        q_nll = jnp.mean(jax.vmap(lambda th: nll(th, x_s, y_s, x_q, y_q))(thetas))
        kl = expected_kl_diag(m_i, 1.0 / gam_i, params.m0, jnp.inf, 1.0 / gam0, n0)
        loss = q_nll + config.kl_weight * kl / x_q.shape[0]
        return loss, (q_nll, kl, clamped)

    def batch_loss(params, key, episodes):
        keys = jax.random.split(key, episodes.x_support.shape[0])
        losses, (nll, kl, clamped) = jax.vmap(episode_loss, in_axes=(None, 0, 0, 0, 0, 0))(
            params, keys, *episodes
        )
        clamped = jax.tree.map(jnp.mean, clamped)
        return jnp.mean(losses), (jnp.mean(nll), jnp.mean(kl), clamped)

    def init(key: jax.Array) -> NIWMetaState:
        theta0 = net.init(key)
        params = NIWMetaParams(
            theta0,
            jnp.full_like(theta0, jnp.log(config.gam0_init)),
            jnp.asarray(jnp.log(config.n0_init), dtype=theta0.dtype),
        )
        return NIWMetaState(params, opt.init(params))

    @jax.jit
    def step(key, state, episodes):
        (loss, (nll, kl, clamped)), grads = jax.value_and_grad(batch_loss, has_aux=True)(
            state.params, key, episodes
        )
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        n0 = jnp.exp(params.log_n0)
        info = NIWMetaInfo(
            loss, nll, kl, *clamped, n0, jnp.mean(n0 * jnp.exp(params.log_gam0))
        )
        return NIWMetaState(params, opt_state), info

    def predict_one(key, params, x_s, y_s, x_q):
        k_fit, k_eps = jax.random.split(key)
        gam0, n0 = jnp.exp(params.log_gam0), jnp.exp(params.log_n0)
        prior = (n0 + 3.0) * gam0 if config.test_prior == "mode" else n0 * gam0
        prior = config.test_prior_scale * prior
        if config.test_inference == "vi":
            n = x_s.shape[0]
            m_i, gam_i = variational_fit(
                k_fit, lambda th: n * nll(th, x_s, y_s) / vi_temp, params.m0, prior,
                steps=config.test_vi_steps, learning_rate=config.test_vi_lr,
            )
        else:
            mean, precision, grad, _ = fit(k_fit, params.m0, x_s, y_s, test_steps,
                                           test_step_size, test_temp, test_burnin,
                                           test_precision)
            m_i, gam_i = local_posterior(mean, precision, params.m0, prior, grad)
        if config.test_predictive == "mean":  # plug-in prediction at the posterior mean mᵢ
            thetas = m_i[None, :]
        else:
            eps = jax.random.normal(k_eps, (config.n_samples_test, net.dim))
            thetas = m_i[None, :] + eps / jnp.sqrt(gam_i)[None, :]
        outs = jax.vmap(lambda th: outputs(th, x_s, y_s, x_q))(thetas)
        return predictive_from_samples(task, outs)

    @jax.jit
    def predict(key, state, episodes):
        keys = jax.random.split(key, episodes.x_support.shape[0])
        return jax.vmap(predict_one, in_axes=(0, None, 0, 0, 0))(
            keys, state.params, episodes.x_support, episodes.y_support, episodes.x_query
        )

    return MetaLearner("niw", init, step, predict, config)
