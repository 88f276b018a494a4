"""SRFT: significance-regularised full fine-tuning (prior + transfer significance).

Source: "Optimizing Multi-Modality Trackers via Significance-Regularized Tuning"
(arXiv 2508.17488 v3; code zhiwen-xdu/SRTrack). The paper's full text was not available
to us: this package is OUR READING of its abstract, of the specification (docs/methods.md#srft) and of the released code. What each choice rests on:

- Prior significance = curvature of the tracking loss at the pretrained RGB weights
  ("tangent space"), measured once on N batches of the target data's RGB stream through
  the RGB model. We use K-FAC (Martens & Grosse 2015) for every `nn.Linear`:
  `F ~= B (x) A` with A = E[a a^T] over layer inputs and B = E[g g^T] over gradients
  w.r.t. layer outputs. Choices (ours, from the K-FAC literature, not from the paper):
  * a Linear with a bias gets an input column of ones (A is (in+1)x(in+1)), so weight and
    bias form one matrix `[W | b]` under one Kronecker factorisation;
  * tokens are independent rows ("K-FAC expand", Eschenhagen et al. 2023): A is the mean
    of a a^T over all token rows, B the per-sample sum over tokens of g g^T averaged over
    samples; output gradients are multiplied by the batch size because the tracking loss
    is a batch mean (per-sample gradients are wanted);
  * the empirical Fisher (gradients of the tracking loss with the ground-truth boxes), since
    the tracker's output distribution has no cheap sampler;
  * significance of eigen-direction (j, k) is s_jk = b_j a_k / max(b) max(a) per layer, so
    it lies in [0, 1] and lambda_p means the same for every layer;
  * "top-r keeps 99% of the spectral energy" is applied per factor: r_A (r_B) is the
    smallest number of leading eigenvalues of A (B) whose sum is >= energy * trace. The
    steep block is r_B x r_A, so projections cost O(r (in+out) max(in,out)).
  Every other parameter the RGB model has (LayerNorm, conv patch embedding, position
  embeddings, head convolutions), and every parameter in `mode: diag`, gets the diagonal
  (EWC) Fisher E[g^2], estimated as batch_size * (mini-batch gradient)^2 (unbiased near a
  stationary point), normalised per tensor to [0, 1].
- Penalty `R_prior = 0.5 * sum s_jk (Q_B^T dW Q_A)_jk^2` (dW = W - W_0) over the steep block;
  untruncated it equals `0.5 tr(dW^T B dW A) / max` (tested). Offered as a coupled loss
  (`srft.coupled`, off by default) and as a decoupled proximal step
  after each optimiser update: the steep block of `Q_B^T (W~ - W_0) Q_A` is divided by
  `1 + eta kappa lambda_p s_jk`, eta being the current learning rate. This is the exact
  implicit (proximal) step on the penalty, so Adam's normalisation cannot wash it out.
- Transfer significance T_i = EMA_0.9(g_i^2) of the gradients during fine-tuning,
  normalised per tensor by its maximum (so T in [0, 1]; dividing by the max keeps ratios),
  optionally multiplied by the Hoyer sparsity of that tensor's T ((sqrt(n) - |T|_1/|T|_2)
  / (sqrt(n) - 1), our reading of "sparsity factor": diffuse significance damps less).
  Proximal damping toward the previous weights:
  `theta_t = theta_{t-1} + (theta~_t - theta_{t-1}) / (1 + c T_i)`, c = (1 - kappa) lambda_t.
  The released code does a related momentum step toward the previous weights with
  sorted-rank factors; it gathers the sorted factors instead of scattering them (so each
  parameter gets another one's factor) and overrides every learning rate to 1e-6: we do
  neither (documented departures).
- Order inside `after_step`: the transfer step first (it damps this step's update), then
  the prior step on the result (it pulls toward W_0).
- kappa(t) = 0.5 (1 + cos(pi t)) by default: prior early, transfer late; `linear` 1 - t and
  `constant` options.
- LoRA (`methods: [lora, srft]`): the significance acts on the LoRA update
  dW = scaling * B A of each wrapped Linear (the base weights stay W_0). The coupled penalty
  is differentiable in A and B directly. The decoupled step shrinks dW as above and maps
  the result back onto B by least squares with A fixed (B <- dW' A^T (A A^T)^-1 / scaling),
  which keeps the rank and equals the exact shrink projected on A's row space. The
  transfer step acts on the LoRA tensors A and B themselves.
- Engineering (ours): the factors are cached in `srft.cache_dir` under a key of the RGB
  weights, the batches, the mode and the precision; written through `tracktune.files` (a
  unique temporary name, fsync, an atomic rename), so concurrent runs never read a partial
  file. A checkpoint carries the
  method's `state_dict()`: the transfer EMA, the prior's key and the layer -> RGB-layer
  mapping; a resumed run measures (or reads) the prior again, checks its key, and rebuilds
  the anchors W_0 from the RGB weights through the saved mapping (the resumed weights no
  longer equal W_0, so matching by value would fail), which makes resuming exact.

The package, by concern:
- `schedule.py`: kappa(t), the prior / transfer balance over training;
- `kfac.py`: measuring the K-FAC factors and the diagonal Fisher (`collect_prior_factors`);
- `priors.py`: eigenbases and the per-layer steep-block prior (penalty, proximal shrink);
- `transfer.py`: transfer significance (gradient EMA, Hoyer sparsity) and its damping step;
- `cache.py`: the content-addressed cache of the factors (fingerprints, key, read / write);
- `matching.py`: which adapted layer answers to which RGB layer (by equal values), targets;
- `method.py`: `SRFTMethod`, the hooks.
"""

from __future__ import annotations

from tracktune.adapt.srft.cache import (batches_fingerprint, cache_key, cached_prior_factors, load_prior_factors,
                                        model_fingerprint, prior_key, save_prior_factors)
from tracktune.adapt.srft.kfac import FactorCollector, PriorFactors, collect_prior_factors
from tracktune.adapt.srft.matching import (DiagonalTarget, LinearTarget, attach_prior, match_by_value,
                                           match_prior)
from tracktune.adapt.srft.method import SRFTMethod, prior_batches, rgb_reference_model, tracking_loss_fn
from tracktune.adapt.srft.priors import Eigenbasis, LinearPrior, augmented, normalised_diagonal
from tracktune.adapt.srft.schedule import SCHEDULES, kappa
from tracktune.adapt.srft.transfer import TransferSignificance, hoyer_sparsity, transfer_step

__all__ = ["SRFTMethod", "kappa", "SCHEDULES", "FactorCollector", "PriorFactors", "collect_prior_factors", "Eigenbasis",
           "LinearPrior", "augmented", "normalised_diagonal", "TransferSignificance", "hoyer_sparsity", "transfer_step",
           "model_fingerprint", "batches_fingerprint", "cache_key", "prior_key", "save_prior_factors",
           "load_prior_factors", "cached_prior_factors", "match_by_value", "match_prior", "attach_prior",
           "LinearTarget", "DiagonalTarget", "prior_batches", "rgb_reference_model", "tracking_loss_fn"]
