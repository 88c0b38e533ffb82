//! `burnfit parity`: the same training steps on several backends, compared.
//!
//! Every backend starts from the same weights (initialised once on flex, serialized to burnpack
//! and loaded on each device, as a user moving a model between machines would), sees the same
//! batches in the same order, and takes the same optimizer steps. What differs is only each
//! backend's floating-point arithmetic: summation order, fused kernels, `exp` and `ln`
//! implementations. The report says how far that moves the loss per step and the weights at the
//! end.

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use burnfit_model::{Mlp, MlpConfig};
use serde::Serialize;

use crate::backend::{self, Selected};
use crate::config::setting_error;
use crate::config::{BackendConfig, BackendKind, Config};
use crate::data::Matrix;
use crate::pipeline;
use crate::run::weights::{from_bytes, to_bytes};
use crate::train::{self, epoch_order, read_scalar, step_on};

/// Default tolerance on the largest relative weight difference for a CPU backend against the
/// reference: both run the same f32 arithmetic in a different order.
pub(crate) const CPU_TOLERANCE: f64 = 1e-5;

/// Default tolerance for a GPU backend: its kernels fuse and reorder more (and `exp`/`ln` differ).
pub(crate) const GPU_TOLERANCE: f64 = 1e-3;

/// A backend named on the command line: `flex`, `ndarray`, `wgpu`, or `wgpu:cpu`
/// (kind, then optionally the `backend.device` value).
pub(crate) fn parse_backend(spec: &str) -> Result<BackendConfig> {
    let (kind, device) = match spec.split_once(':') {
        Some((k, d)) => (k, d.to_string()),
        None => (spec, "default".to_string()),
    };
    let kind: BackendKind = toml::Value::String(kind.trim().to_string())
        .try_into()
        .map_err(|_| {
            anyhow::anyhow!(
                "--backends: `{kind}` is not a backend; choose from flex, ndarray, wgpu, vulkan, cuda (optionally `kind:device`, e.g. `wgpu:cpu`)"
            )
        })?;
    if kind == BackendKind::Auto {
        bail!("--backends: `auto` is not allowed here; name the backends to compare");
    }
    Ok(BackendConfig {
        kind,
        device,
        ..BackendConfig::default()
    })
}

/// One backend's run of the steps.
#[derive(Debug, Serialize)]
pub(crate) struct BackendRun {
    /// As given on the command line.
    pub(crate) name: String,
    /// What was selected (adapter name for wgpu).
    pub(crate) description: String,
    /// Each step's mean batch loss.
    pub(crate) losses: Vec<f32>,
    /// Largest relative difference of any parameter tensor from the reference's:
    /// `max |w − w_ref| / max |w_ref|` over each tensor, then the largest over tensors.
    /// Zero for the reference itself.
    pub(crate) weight_rel_diff: f64,
    /// Largest relative difference of a step's loss from the reference's.
    pub(crate) loss_rel_diff: f64,
    /// The tolerance applied to `weight_rel_diff`.
    pub(crate) tolerance: f64,
}

impl BackendRun {
    /// Within tolerance, with every loss and weight finite.
    pub(crate) fn agrees(&self) -> bool {
        self.losses.iter().all(|l| l.is_finite())
            && self.weight_rel_diff.is_finite()
            && self.weight_rel_diff <= self.tolerance
            && !self.loss_rel_diff.is_nan()
    }
}

/// The whole comparison; the first backend is the reference.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// Steps taken on each backend.
    pub(crate) steps: usize,
    /// Rows per step.
    pub(crate) batch_size: usize,
    /// In the order given.
    pub(crate) backends: Vec<BackendRun>,
}

impl Report {
    /// The backends whose weights moved further than their tolerance.
    pub(crate) fn failures(&self) -> Vec<&BackendRun> {
        self.backends.iter().filter(|b| !b.agrees()).collect()
    }

    /// The per-step losses as CSV: `step,<backend>,...`.
    pub(crate) fn losses_csv(&self) -> String {
        let mut out = String::from("step");
        for b in &self.backends {
            out.push(',');
            out.push_str(&b.name);
        }
        out.push('\n');
        for s in 0..self.steps {
            out.push_str(&(s + 1).to_string());
            for b in &self.backends {
                out.push_str(&format!(",{}", b.losses[s]));
            }
            out.push('\n');
        }
        out
    }
}

/// Every parameter of `model` as host floats, in layer order (weight, then bias).
fn weights(model: &Mlp) -> Vec<Vec<f32>> {
    let read = |t: burn::tensor::TensorData| t.convert::<f32>().try_to_vec::<f32>().expect("f32");
    let mut out = Vec::new();
    for layer in &model.layers {
        out.push(read(layer.weight.val().into_data()));
        if let Some(b) = &layer.bias {
            out.push(read(b.val().into_data()));
        }
    }
    out
}

/// `max |a − b| / max |b|` per tensor, the largest over tensors.
fn rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                .fold(0.0, nan_max);
            let scale = b.iter().map(|y| f64::from(*y).abs()).fold(0.0, nan_max);
            if scale > 0.0 {
                diff / scale
            } else {
                diff
            }
        })
        .fold(0.0, nan_max)
}

/// The larger of two values, NaN if either is: `f64::max` would drop a NaN and report a
/// backend whose weights all became NaN as agreeing.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Runs `steps` training steps of `config` on `device` from `initial` burnpack weights, with the
/// update path and batch parts `train` uses on that backend.
fn run_steps(
    (config, mlp_config): (&Config, &MlpConfig),
    train_m: &Matrix,
    initial: &[u8],
    selected: &Selected,
    steps: usize,
) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let t = &config.train;
    let ad = selected.device.clone().autodiff();
    let mut model = from_bytes(mlp_config, initial.to_vec(), &ad, "initial weights")?;
    let settings = t.optimizer_settings();
    let mut optim = settings
        .build(t.grad_clip.map(|c| c.0), selected.update_path())
        .map_err(|e| setting_error("train", e))?;
    let (n, batch) = (train_m.rows, t.batch_size.get().min(train_m.rows));
    let per_epoch = n.div_ceil(batch);
    let mut order = train::Order::Narrow(Vec::new().into());
    let mut rows = Vec::new();
    let mut losses = Vec::with_capacity(steps);
    for s in 0..steps {
        let (epoch, step) = (s / per_epoch, s % per_epoch);
        if step == 0 {
            order = epoch_order(config, n, epoch);
        }
        order.rows(step * batch..((step + 1) * batch).min(n), &mut rows);
        let rows = &rows;
        let lr = train::learning_rate(config, settings.lr(), epoch, step, per_epoch);
        let (next, _, loss) = step_on(
            model,
            &mut optim,
            train::Objective {
                smoothing: t.label_smoothing.0 as f32,
                ..train::Objective::plain(t.loss)
            },
            lr,
            (train_m, rows),
            &ad,
            selected.part_rows(),
        )?;
        model = next;
        losses.push(read_scalar(&loss));
    }
    Ok((losses, weights(&model.valid())))
}

/// Compares `backends` (the first is the reference) over `steps` steps of `config`'s training.
/// `tolerance` overrides the per-backend default ([`CPU_TOLERANCE`], [`GPU_TOLERANCE`]).
pub(crate) fn run(
    config: &Config,
    backends: &[(String, BackendConfig)],
    steps: usize,
    tolerance: Option<f64>,
) -> Result<Report> {
    if backends.len() < 2 {
        bail!("--backends: name at least two backends to compare, e.g. `flex,ndarray`");
    }
    let data = pipeline::prepare(config).context("cannot prepare the data")?;
    let mlp_config = config
        .model
        .mlp(data.pre.width())
        .with_output(data.pre.labels.outputs());
    mlp_config
        .validate()
        .map_err(|e| setting_error("model", e))?;
    crate::train::check_memory(config, &mlp_config)?;
    let network = mlp_config.init(&Device::flex(), config.seed);
    let initial = to_bytes(&network.map_err(|e| setting_error("model", e))?)?;
    let mut runs: Vec<BackendRun> = Vec::new();
    let mut reference: Option<(Vec<f32>, Vec<Vec<f32>>)> = None;
    for (name, bc) in backends {
        let selected = backend::select(bc).with_context(|| format!("--backends: {name}"))?;
        say!("parity: {steps} steps on {}", selected.description);
        let (losses, w) = run_steps(
            (config, &mlp_config),
            &data.train,
            &initial,
            &selected,
            steps,
        )?;
        let (weight_rel_diff, loss_rel_diff) = match &reference {
            // The reference against itself: zero, unless something in it is not finite.
            None => (rel_diff(&w, &w), 0.0),
            Some((ref_losses, ref_w)) => (
                rel_diff(&w, ref_w),
                losses
                    .iter()
                    .zip(ref_losses)
                    .map(|(a, b)| {
                        (f64::from(*a) - f64::from(*b)).abs() / f64::from(b.abs()).max(1e-12)
                    })
                    .fold(0.0, nan_max),
            ),
        };
        // wgpu on a software adapter runs the GPU kernels, so it gets the GPU tolerance.
        let default_tol = if selected.kind.is_cpu() {
            CPU_TOLERANCE
        } else {
            GPU_TOLERANCE
        };
        if reference.is_none() {
            reference = Some((losses.clone(), w));
        }
        runs.push(BackendRun {
            name: name.clone(),
            description: selected.description,
            losses,
            weight_rel_diff,
            loss_rel_diff,
            tolerance: tolerance.unwrap_or(default_tol),
        });
    }
    Ok(Report {
        steps,
        batch_size: config.train.batch_size.get().min(data.train.rows),
        backends: runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_specs_parse_with_an_optional_device() {
        let b = parse_backend("wgpu:cpu").unwrap();
        assert_eq!((b.kind, b.device.as_str()), (BackendKind::Wgpu, "cpu"));
        let b = parse_backend("ndarray").unwrap();
        assert_eq!(
            (b.kind, b.device.as_str()),
            (BackendKind::Ndarray, "default")
        );
        let e = parse_backend("tpu").unwrap_err().to_string();
        assert!(e.contains("`tpu` is not a backend"), "{e}");
        assert!(parse_backend("auto").is_err());
    }

    #[test]
    fn a_non_finite_loss_or_weight_on_any_backend_is_a_failure() {
        let run = |losses: Vec<f32>, w: &[Vec<f32>], r: &[Vec<f32>]| BackendRun {
            name: "b".into(),
            description: String::new(),
            losses,
            weight_rel_diff: rel_diff(w, r),
            loss_rel_diff: 0.0,
            tolerance: 1e-5,
        };
        let good = vec![vec![1.0f32, 2.0]];
        let nan = vec![vec![f32::NAN, f32::NAN]];
        assert!(run(vec![0.5], &good, &good).agrees());
        // All weights NaN: `f64::max` would have folded the NaNs away to 0.
        assert!(rel_diff(&nan, &good).is_nan());
        assert!(!run(vec![0.5], &nan, &good).agrees());
        assert!(!run(vec![0.5], &nan, &nan).agrees(), "the reference itself");
        assert!(!run(vec![0.5, f32::INFINITY], &good, &good).agrees());
        let report = Report {
            steps: 1,
            batch_size: 1,
            backends: vec![
                run(vec![0.5], &good, &good),
                run(vec![f32::NAN], &good, &good),
            ],
        };
        assert_eq!(report.failures().len(), 1);
    }

    #[test]
    fn relative_difference_is_scaled_per_tensor() {
        let a = vec![vec![1.0, 2.0], vec![0.001]];
        let b = vec![vec![1.0, 2.0 + 1e-3], vec![0.002]];
        // First tensor: 1e-3 / 2.001; second: 0.001 / 0.002 = 0.5.
        assert!((rel_diff(&a, &b) - 0.5).abs() < 1e-6);
        assert_eq!(rel_diff(&a, &a), 0.0);
    }
}
