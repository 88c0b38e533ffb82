//! One DP-SGD step's gradients for a [`Mlp`]: every row's gradient clipped to norm C, summed,
//! Gaussian noise `N(0, σ²C²)` added to the sum, and the result divided by the expected batch
//! size (Abadi et al. 2016; Opacus's `DPOptimizer`). The optimizer then steps as usual.
//!
//! Per-row gradient norms come from the "ghost clipping" identity for dense layers (Opacus
//! `grad_sample/linear.py`, `DPLossFastGradientClipping`): row i's gradient of a layer's weight
//! is the outer product `a_i g_iᵀ` of the row's input to the layer and the gradient of its loss
//! at the layer's output, so its Frobenius norm is `‖a_i‖·‖g_i‖`, and the bias's is `‖g_i‖`.
//! A first pass reads every `g_i` from Burn's autodiff through a zero "probe" added to each
//! layer's output (its gradient is the output's); a second, ordinary pass back-propagates
//! `Σ_i c_i·loss_i` with the clip factors `c_i` as constants, which is `Σ_i c_i ∇_i`. No
//! per-row gradient is ever built, so memory is that of two ordinary steps, and nothing of the
//! network's backward is written by hand: both passes are Burn's.
//!
//! The noise is drawn on the host from ChaCha20 and uploaded, so it is the same on every
//! backend and a resumed run continues it exactly ([`NoiseSource`]); it is drawn on other
//! threads while the passes run.

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Shape, Tensor, TensorData};
use rand::TryRngCore;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{Loss, Mlp, ModelError};

/// What Opacus adds to a norm before dividing C by it, so a zero gradient gets a finite factor.
const NORM_EPSILON: f64 = 1e-6;

/// The clipping norm and the noise of DP-SGD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// C: each row's gradient (all parameters together) is scaled down to at most this norm.
    pub max_grad_norm: f64,
    /// σ: the noise's standard deviation over C. 0 trains with clipping and no noise, which
    /// gives no privacy (ε = ∞); the accountant says so.
    pub noise_multiplier: f64,
}

impl PrivacySettings {
    /// Checks both values, naming the key at fault.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return Err(ModelError::InvalidSetting {
                key: "max_grad_norm",
                reason: format!("must be a positive number, got {}", self.max_grad_norm),
            });
        }
        if !(self.noise_multiplier.is_finite() && self.noise_multiplier >= 0.0) {
            return Err(ModelError::InvalidSetting {
                key: "noise_multiplier",
                reason: format!("must be a number >= 0, got {}", self.noise_multiplier),
            });
        }
        Ok(())
    }
}

/// Where a [`NoiseSource`] is: its key and how many steps' noise it has drawn. Enough to
/// continue it exactly, since each step's noise is a fixed slice of the key's stream.
///
/// The key is the secret of the whole run: anyone who has it, and the model after each step,
/// can subtract the noise and read the clipped gradient sums, so a checkpoint that holds it is
/// as sensitive as the training data. The trained model does not hold it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseState {
    /// ChaCha20's 256-bit key.
    pub key: [u8; 32],
    /// Steps whose noise has been drawn: the next step's stream number.
    pub steps: u64,
}

impl std::fmt::Debug for NoiseState {
    // The key stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseState")
            .field("key", &"<secret>")
            .field("steps", &self.steps)
            .finish()
    }
}

/// Values of one parameter's noise drawn from one slice of the keystream.
const BLOCK: usize = 4096;
/// Rows of a Poisson batch drawn from one slice of the keystream (two words a row).
const SAMPLE_BLOCK: usize = 1 << 16;
/// Bits of a keystream position (68 in all, in 32-bit words) given to a block's own words,
/// then to the block's index within its region; the rest number the region (the Poisson
/// sampling, then each parameter). A block of 4,096 noise values reads about 33,000 words (four
/// normal draws of two words each, and the ziggurat's rare retries), a block of 65,536 rows'
/// sampling 131,072: both far inside a block's 2^28.
const WORD_BITS: u32 = 28;
const BLOCK_BITS: u32 = 20;
const PARAM_BITS: u32 = 68 - WORD_BITS - BLOCK_BITS;

/// The Gaussian noise of private training: ChaCha20 keystream, drawn on the host.
///
/// ChaCha20 rather than rand's `StdRng` (ChaCha12 today): it is the cipher of RFC 8439, with the
/// full safety margin a cryptographic review expects of a secret source, and `rand_chacha`
/// gives direct access to its stream number and position, where `StdRng` (whose algorithm
/// rand may change between versions) promises neither.
///
/// Step t's noise for parameter p, values 4096·b to 4096·(b+1), comes from the keystream of
/// stream t at a position fixed by (p + 1, b), and the rows of step t's Poisson batch
/// ([`DpSgd::poisson_batch`]) from region 0 of the same stream: disjoint slices of one key's
/// stream, so the draws are independent, can be made in parallel in any order with the same
/// bits, and a resumed run needs only the key and the step count ([`NoiseState`]). The normal draws are rand_distr's
/// ziggurat in f64; each noise value is `(z₁ + z₂ + z₃ + z₄)/2` of four of them, still
/// `N(0, 1)`, as Opacus's `secure_mode` does against attacks on the floating-point
/// representation of a single Gaussian draw (Holohan & Braghin 2021; Opacus `_generate_noise`).
pub struct NoiseSource {
    key: [u8; 32],
    steps: u64,
}

impl NoiseSource {
    /// A source with a fresh secret key from the operating system: what a private run must use.
    ///
    /// # Errors
    /// The OS random source fails: [`ModelError::Entropy`].
    pub fn from_os() -> Result<Self, ModelError> {
        let mut key = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| ModelError::Entropy(e.to_string()))?;
        Ok(Self::from_key(key))
    }

    /// A source with the given key, before its first step. Reproducible, so for tests and for a
    /// run whose key the caller keeps secret itself; a key derived from a public seed gives no
    /// privacy at all, since anyone can then replay the noise.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self { key, steps: 0 }
    }

    /// The source exactly where [`state`](Self::state) left it.
    pub fn from_state(state: &NoiseState) -> Self {
        Self {
            key: state.key,
            steps: state.steps,
        }
    }

    /// Where the source is: saved in a checkpoint, it lets a resumed run draw the same noise.
    pub fn state(&self) -> NoiseState {
        NoiseState {
            key: self.key,
            steps: self.steps,
        }
    }

    /// The next step's stream number, advancing the count.
    fn next_step(&mut self) -> Result<u64, ModelError> {
        let step = self.steps;
        // Wrapping would reuse noise, which would let the two steps' noise cancel.
        self.steps = step
            .checked_add(1)
            .ok_or_else(|| ModelError::InvalidSetting {
                key: "noise",
                reason: "the noise stream is exhausted after 2^64 steps".into(),
            })?;
        Ok(step)
    }

    /// The generator at block `block` of region `region` of stream `step`.
    fn slice(&self, step: u64, region: u64, block: u64) -> ChaCha20Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha20Rng::from_seed(self.key);
        rng.set_stream(step);
        rng.set_word_pos(
            (u128::from(region) << (BLOCK_BITS + WORD_BITS)) | (u128::from(block) << WORD_BITS),
        );
        rng
    }

    /// Step `step`'s noise, `N(0, std²)` in f32, for parameters of `sizes` elements, drawn in
    /// parallel over rayon's pool (each block on its own slice of the stream).
    fn draw(&self, step: u64, sizes: &[usize], std: f64) -> Result<Vec<Vec<f32>>, ModelError> {
        use rayon::prelude::*;
        // Region 0 is the Poisson sampling's; parameter p draws from region p + 1.
        if sizes.len() as u64 >= (1 << PARAM_BITS) - 1
            || sizes
                .iter()
                .any(|&n| n.div_ceil(BLOCK) as u64 >= 1 << BLOCK_BITS)
        {
            return Err(ModelError::InvalidSetting {
                key: "hidden",
                reason: format!(
                    "private training draws noise for at most {} parameter tensors of at most                      {} values each",
                    (1u64 << PARAM_BITS) - 1,
                    (1u64 << BLOCK_BITS) * BLOCK as u64
                ),
            });
        }
        Ok(sizes
            .par_iter()
            .enumerate()
            .map(|(p, &n)| {
                let mut values = vec![0f32; n];
                values
                    .par_chunks_mut(BLOCK)
                    .enumerate()
                    .for_each(|(b, block)| {
                        let mut rng = self.slice(step, p as u64 + 1, b as u64);
                        for v in block {
                            let z: f64 = (0..4)
                                .map(|_| -> f64 { StandardNormal.sample(&mut rng) })
                                .sum();
                            *v = (z / 2.0 * std) as f32;
                        }
                    });
                values
            })
            .collect())
    }
}

/// `rows` independent draws, each true with probability `sample_rate`, for step `step`: the
/// indices of the true ones, in order. Each row compares 64 fresh bits with `q·2⁶⁴`, so the
/// probability is q to within 2⁻⁶⁴.
fn poisson_rows(
    source: &NoiseSource,
    step: u64,
    rows: usize,
    sample_rate: f64,
) -> Result<Vec<usize>, ModelError> {
    use rand::RngCore;
    use rayon::prelude::*;
    if !(0.0..=1.0).contains(&sample_rate) {
        return Err(ModelError::InvalidSetting {
            key: "sample_rate",
            reason: format!("must be a probability in [0, 1], got {sample_rate}"),
        });
    }
    if rows.div_ceil(SAMPLE_BLOCK) as u64 >= 1 << BLOCK_BITS {
        return Err(ModelError::InvalidSetting {
            key: "rows",
            reason: format!(
                "Poisson sampling draws from at most {} rows",
                (1u64 << BLOCK_BITS) * SAMPLE_BLOCK as u64
            ),
        });
    }
    if sample_rate == 1.0 {
        return Ok((0..rows).collect());
    }
    // q·2⁶⁴ is exact (a power-of-two scale); the cast keeps its integer part.
    let threshold = (sample_rate * 2f64.powi(64)) as u64;
    let blocks: Vec<Vec<usize>> = (0..rows.div_ceil(SAMPLE_BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut rng = source.slice(step, 0, b as u64);
            let start = b * SAMPLE_BLOCK;
            (start..rows.min(start + SAMPLE_BLOCK))
                .filter(|_| rng.next_u64() < threshold)
                .collect()
        })
        .collect();
    Ok(blocks.concat())
}

/// A private step's result: the gradients to hand to the optimizer, and, off the autodiff graph,
/// what the ordinary step returns for the epoch's running sums.
pub struct PrivateGradients {
    /// `(Σ_i c_i ∇_i + N(0, σ²C²)) / B` for every parameter.
    pub grads: GradientsParams,
    /// The batch's raw outputs, `[rows, outputs]`.
    pub outputs: Tensor<2>,
    /// The batch's mean (unclipped) loss, `[1]`; 0 for an empty batch. Computed from the
    /// private rows without noise: not covered by the privacy guarantee.
    pub loss: Tensor<1>,
}

/// DP-SGD for a [`Mlp`]: the settings, the expected batch size and the noise source, checked
/// once and used at every step.
pub struct DpSgd {
    settings: PrivacySettings,
    expected_batch: f64,
    noise: NoiseSource,
}

impl DpSgd {
    /// DP-SGD with `settings`, dividing each step's noised sum by `expected_batch` (B: the
    /// expected batch size q·n under Poisson sampling, the fixed one for shuffled batches; a
    /// public constant, never the batch's actual size, which depends on the data), drawing
    /// noise from `noise`.
    ///
    /// # Errors
    /// A setting out of range, or `expected_batch` not a positive number:
    /// [`ModelError::InvalidSetting`].
    pub fn new(
        settings: PrivacySettings,
        expected_batch: f64,
        noise: NoiseSource,
    ) -> Result<Self, ModelError> {
        settings.validate()?;
        if !(expected_batch.is_finite() && expected_batch > 0.0) {
            return Err(ModelError::InvalidSetting {
                key: "batch_size",
                reason: format!("the expected batch size must be positive, got {expected_batch}"),
            });
        }
        Ok(Self {
            settings,
            expected_batch,
            noise,
        })
    }

    /// The settings.
    pub fn settings(&self) -> PrivacySettings {
        self.settings
    }

    /// The rows of the next step's batch under Poisson sampling: each of `rows` rows
    /// independently with probability `sample_rate` (q = B/n), so the batch's size varies and
    /// may be 0. Drawn from the run's secret key, because the amplification by subsampling
    /// that the accountant credits holds only if the adversary cannot tell which rows a step
    /// used (batches from the config's public seed would not earn it); and from the next step's
    /// stream, so a resumed run draws the same batches. Call it before
    /// [`gradients`](Self::gradients) for the same step; it does not advance the source.
    ///
    /// # Errors
    /// `sample_rate` not in [0, 1], or more rows than the stream's layout holds (~6.9e10):
    /// [`ModelError::InvalidSetting`].
    pub fn poisson_batch(&self, rows: usize, sample_rate: f64) -> Result<Vec<usize>, ModelError> {
        poisson_rows(&self.noise, self.noise.steps, rows, sample_rate)
    }

    /// The noise source's state, for a checkpoint (see [`NoiseState`] on its secrecy).
    pub fn noise_state(&self) -> NoiseState {
        self.noise.state()
    }

    /// The private gradients of `model` on a batch `x` with targets `y`: what
    /// [`MlpOptimizer::step`](crate::MlpOptimizer::step) takes in place of the ordinary
    /// step's. Rows may be 0 (Poisson sampling can draw an empty batch): the gradients are then
    /// the noise alone, as the accounting assumes.
    ///
    /// # Shapes
    /// - x: `[rows, input]`, on the autodiff device the model's parameters are on
    /// - y: `[rows, outputs]`
    ///
    /// # Errors
    /// A width that does not match the network, or targets of another shape than the outputs:
    /// [`ModelError`].
    pub fn gradients(
        &mut self,
        model: &Mlp,
        loss: Loss,
        x: Tensor<2>,
        y: Tensor<2>,
    ) -> Result<PrivateGradients, ModelError> {
        check_batch(model, &x, &y)?;
        let device = x.device().inner();
        let params: Vec<(ParamId, Shape)> = model
            .layers
            .iter()
            .flat_map(|l| {
                std::iter::once((l.weight.id, l.weight.shape()))
                    .chain(l.bias.as_ref().map(|b| (b.id, b.shape())))
            })
            .collect();
        let sizes: Vec<usize> = params.iter().map(|(_, s)| s.num_elements()).collect();
        let std = self.settings.noise_multiplier * self.settings.max_grad_norm;
        let step = self.noise.next_step()?;
        let noise = &self.noise;
        let max_grad_norm = self.settings.max_grad_norm;
        // The noise does not depend on the batch: it is drawn on other threads of the pool while
        // this one runs the two passes, which at the usual batch sizes keep one core busy.
        let (passes, noise) = rayon::join(
            || clipped_sum(model, loss, x, y, max_grad_norm),
            || {
                if std > 0.0 {
                    noise.draw(step, &sizes, std).map(Some)
                } else {
                    Ok(None)
                }
            },
        );
        let (mut grads, outputs, mean_loss) = passes?;
        let mut noise = noise?.map(Vec::into_iter);
        for (id, shape) in params {
            let values = noise.as_mut().and_then(Iterator::next);
            match shape.num_dims() {
                1 => self.finish::<1>(&mut grads, id, shape, values, &device),
                _ => self.finish::<2>(&mut grads, id, shape, values, &device),
            }
        }
        Ok(PrivateGradients {
            grads,
            outputs,
            loss: mean_loss,
        })
    }

    /// Replaces a parameter's summed clipped gradient in `grads` with `(sum + noise) / B`. A
    /// parameter the backward pass did not reach (or an empty batch) gets the noise alone: every
    /// released parameter is noised.
    fn finish<const D: usize>(
        &self,
        grads: &mut GradientsParams,
        id: ParamId,
        shape: Shape,
        noise: Option<Vec<f32>>,
        device: &Device,
    ) {
        let sum = grads
            .remove::<D>(id)
            .unwrap_or_else(|| Tensor::zeros(shape.clone(), device));
        let noisy = match noise {
            Some(values) => sum + Tensor::<D>::from_data(TensorData::new(values, shape), device),
            None => sum,
        };
        grads.register(id, noisy.div_scalar(self.expected_batch));
    }
}

/// `Σ_i c_i ∇_i` over the batch with `c_i = min(1, C / (‖∇_i‖ + 1e-6))`, from the ghost norms'
/// pass and a second pass of `Σ_i c_i·loss_i`; with the outputs and mean loss off the graph.
/// An empty batch gives no gradients, no outputs and a loss of 0 (it weighs nothing in an
/// epoch's mean).
fn clipped_sum(
    model: &Mlp,
    loss: Loss,
    x: Tensor<2>,
    y: Tensor<2>,
    max_grad_norm: f64,
) -> Result<(GradientsParams, Tensor<2>, Tensor<1>), ModelError> {
    let rows = x.dims()[0];
    let device = x.device().inner();
    if rows == 0 {
        let outputs = Tensor::<2>::zeros([0, y.dims()[1]], &device);
        return Ok((GradientsParams::new(), outputs, Tensor::zeros([1], &device)));
    }
    let norms = per_sample_grad_norms(model, loss, x.clone(), y.clone())?;
    let factors = norms
        .add_scalar(NORM_EPSILON)
        .recip()
        .mul_scalar(max_grad_norm)
        .clamp_max(1.0); // [rows]
                         // Pass 2: Σ_i c_i·loss_i, the factors constants of the graph.
    let outputs = model.forward(x); // [rows, outputs]
    let per_row = loss.per_row(outputs.clone(), y)?; // [rows, 1]
    let mean_loss = per_row.clone().inner().mean();
    let factors = Tensor::from_inner(factors.reshape([rows, 1]));
    let clipped = (per_row * factors).sum();
    let grads = GradientsParams::from_grads(clipped.backward(), model);
    Ok((grads, outputs.inner(), mean_loss))
}

/// The norm of every row's gradient of its own loss with respect to all the parameters of
/// `model`, without building any row's gradient: the ghost-clipping identity (module doc),
/// from one forward and one backward pass in which the parameters are constants and only the
/// layers' outputs are differentiated.
///
/// # Shapes
/// - x: `[rows, input]`, on the autodiff device
/// - y: `[rows, outputs]`
/// - result: `[rows]`, on the inner device
///
/// # Errors
/// Shapes that do not fit the network: [`ModelError`].
pub fn per_sample_grad_norms(
    model: &Mlp,
    loss: Loss,
    x: Tensor<2>,
    y: Tensor<2>,
) -> Result<Tensor<1>, ModelError> {
    check_batch(model, &x, &y)?;
    let rows = x.dims()[0];
    let device = x.device();
    if rows == 0 {
        return Ok(Tensor::zeros([0], &device.inner()));
    }
    let last = model.layers.len() - 1;
    let mut a = x.detach(); // [rows, input]
                            // Each layer's input (off the graph) and the probe on its output.
    let mut taps = Vec::with_capacity(model.layers.len());
    for (i, layer) in model.layers.iter().enumerate() {
        let input = a.clone().inner();
        // Detached parameters: this pass needs no parameter gradient, and Burn then skips the
        // weight side of every matmul's backward.
        let weight = layer.weight.val().detach();
        let bias = layer.bias.as_ref().map(|b| b.val().detach());
        let z = burn::tensor::module::linear(a, weight, bias); // [rows, width_i]
        let probe = Tensor::<2>::zeros(z.dims(), &device).require_grad();
        let z = z + probe.clone();
        taps.push((input, probe, layer.bias.is_some()));
        a = if i < last {
            model.activation.apply(z)
        } else {
            z
        };
    }
    // The sum of the rows' losses: its gradient at row i of a layer's output is that row's own.
    let grads = loss.per_row(a, y)?.sum().backward();
    let inner = device.inner();
    let mut squared = Tensor::<2>::zeros([rows, 1], &inner);
    for (input, probe, has_bias) in taps {
        let Some(g) = probe.grad(&grads) else {
            continue; // a layer the loss does not reach contributes nothing
        };
        let g2 = g.square().sum_dim(1); // [rows, 1]: ‖g_i‖²
        let a2 = input.square().sum_dim(1); // ‖a_i‖²
        let a2 = if has_bias { a2.add_scalar(1.0) } else { a2 };
        squared = squared + g2 * a2;
    }
    Ok(squared.sqrt().reshape([rows]))
}

/// The input's width against the network's, and the targets' shape against the outputs'.
fn check_batch(model: &Mlp, x: &Tensor<2>, y: &Tensor<2>) -> Result<(), ModelError> {
    let expected = model.input_width();
    let [rows, got] = x.dims();
    if got != expected {
        return Err(ModelError::InputWidth { expected, got });
    }
    let outputs = model
        .layers
        .last()
        .map_or(0, |l| l.weight.shape().dims::<2>()[1]);
    if y.dims() != [rows, outputs] {
        return Err(ModelError::ShapeMismatch {
            op: "private step",
            predictions: vec![rows, outputs],
            targets: y.dims().to_vec(),
        });
    }
    Ok(())
}
