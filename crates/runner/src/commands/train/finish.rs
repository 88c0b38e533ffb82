//! The end of a trained run: its weights, curves, final evaluation (and the threshold chosen
//! on the validation rows), footprint, summary and status, and the seed's closing line.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use burnfit_model::{Loss, MlpConfig};

use crate::backend::Selected;
use crate::calibrate;
use crate::commands::final_line;
use crate::config::{Calibrate, Config};
use crate::data::buffer::Buffer;
use crate::metrics;
use crate::pipeline::Prepared;
use crate::run::summary::{metric_map, LabelRow, SplitProfile};
use crate::run::weights::to_bytes;
use crate::run::{self as rundir, CalibrationSummary, RunDir, Status, StatusFile, Summary};
use crate::train::{self, Outcome, Stop};

/// Says why the loop ended before its last epoch, if it did.
fn report_stop(outcome: &Outcome) {
    match outcome.stop {
        Stop::EarlyStopped => say!(
            "early stopping after epoch {}; best epoch {}",
            outcome.history.len(),
            outcome.best_epoch
        ),
        Stop::TimeBudget => say!("time budget reached after epoch {}", outcome.history.len()),
        Stop::Completed | Stop::Interrupted => {}
    }
}

/// A run whose loop has ended (not interrupted), and what its files are made from.
pub(super) struct Trained<'a> {
    /// The weights of class 0 and 1 in the loss, when `train.class_weight` set them.
    pub(super) class_weights: Option<Vec<f64>>,
    pub(super) config: &'a Config,
    pub(super) selected: &'a Selected,
    pub(super) data: &'a Prepared,
    pub(super) network: &'a MlpConfig,
    pub(super) run: &'a RunDir,
}

impl Trained<'_> {
    /// The decision thresholds: `train.threshold`'s number, or its rule's pick on the
    /// validation rows, one per label of several (then saved in `model.json` for evaluate and
    /// predict). `eval_outputs` are the final model's raw outputs on the evaluated rows: the
    /// validation rows themselves unless there is a test file, then they are computed here.
    // Long because the per-label loop says each choice (up to a screenful) as it goes.
    fn thresholds(&self, model: &burnfit_model::Mlp, eval_outputs: &[f32]) -> Result<Vec<f64>> {
        let t = self.config.train.threshold;
        let crate::config::Threshold::Chosen(rule) = t else {
            return Ok(vec![t.during_training()]);
        };
        let valid = &self.data.valid;
        let own;
        let raw = if self.data.test.is_none() {
            eval_outputs
        } else {
            own = train::outputs(model, valid, &self.selected.device);
            &own
        };
        // The rule applies to each label on its own: its probabilities against its 0/1s.
        let names = self.data.pre.labels.column_names();
        let k = valid.y_width;
        let mut chosen = Vec::with_capacity(k);
        // Each label's line up to a screenful; past it, one line and model.json for the rest.
        const SAID: usize = 20;
        let mut unmet = 0;
        for j in 0..k {
            let column = |v: &[f32], f: fn(f64) -> f64| {
                let values = v.iter().skip(j).step_by(k).map(|&z| f(f64::from(z)));
                Buffer::collect_rows("a label's validation column", values)
            };
            let p = column(raw, |z| Loss::Bce.activate_value(z));
            let y = column(&valid.y, |v| v);
            let of = names
                .get(j)
                .map_or(String::new(), |n| format!(" of label `{n}`"));
            let quiet = j >= SAID;
            chosen.push(match crate::threshold::choose(rule, &p, &y) {
                Some(c) if quiet => c,
                Some(c) => {
                    say!(
                        "threshold{of}: {c:.4}, chosen by train.threshold = \"{t}\" on the {} validation rows",
                        valid.rows
                    );
                    c
                }
                None => {
                    unmet += usize::from(quiet);
                    if !quiet {
                        say!(
                            "warning: train.threshold = \"{t}\" found no threshold{of} on the {} validation rows (one class, or no threshold meets the target); keeping {}",
                            valid.rows,
                            crate::threshold::DEFAULT
                        );
                    }
                    crate::threshold::DEFAULT
                }
            });
        }
        if k > SAID {
            say!(
                "thresholds of the other {} labels chosen the same way (each in {}){}",
                k - SAID,
                rundir::MODEL_JSON,
                if unmet > 0 {
                    format!(
                        "; {unmet} of them found none and keep {}",
                        crate::threshold::DEFAULT
                    )
                } else {
                    String::new()
                }
            );
        }
        let mut model_file = self.run.model_file()?;
        model_file.threshold = chosen[0];
        if k > 1 {
            model_file.thresholds = chosen.clone();
        }
        self.run.write_json(rundir::MODEL_JSON, &model_file)?;
        Ok(chosen)
    }

    /// `train.calibrate = "temperature"`: T fitted on the validation rows and folded into the
    /// final model's last layer, so the weights written and every later evaluation carry it;
    /// `model.json` records T.
    fn calibrate(&self, outcome: &mut Outcome) -> Result<Option<CalibrationSummary>> {
        let loss = self.config.train.loss;
        if self.config.train.calibrate != Calibrate::Temperature || loss == Loss::Mse {
            return Ok(None);
        }
        let valid = &self.data.valid;
        let raw = train::outputs(&outcome.model, valid, &self.selected.device);
        let t = calibrate::fit_temperature(&raw, &valid.y, loss);
        let fit = CalibrationSummary {
            temperature: t,
            rows: valid.rows,
            log_loss_before: calibrate::log_loss(&raw, &valid.y, loss, 1.0),
            log_loss_after: calibrate::log_loss(&raw, &valid.y, loss, t),
            ece_before: calibrate::expected_calibration_error(&raw, &valid.y, loss, 1.0),
            ece_after: calibrate::expected_calibration_error(&raw, &valid.y, loss, t),
        };
        outcome.model = calibrate::fold_into_head(outcome.model.clone(), t);
        let mut model_file = self.run.model_file()?;
        model_file.temperature = Some(t);
        self.run.write_json(rundir::MODEL_JSON, &model_file)?;
        say!(
            "calibration: temperature {t:.4} on the {} validation rows; log loss {:.4} -> {:.4}, expected calibration error {:.4} -> {:.4}",
            valid.rows,
            fit.log_loss_before,
            fit.log_loss_after,
            fit.ece_before,
            fit.ece_after
        );
        Ok(Some(fit))
    }

    /// Writes the weights, the curves, the final evaluation, the footprint and the summary.
    pub(super) fn write(
        &self,
        mut outcome: Outcome,
        meter: crate::footprint::Meter,
        total: Instant,
    ) -> Result<ExitCode> {
        let (config, data, run) = (self.config, self.data, self.run);
        let head = config.head();
        let calibration = self.calibrate(&mut outcome)?;
        let outcome = &outcome;
        let weights = to_bytes(&outcome.model)?;
        run.write(rundir::WEIGHTS, &weights)?;
        let curves = crate::report::svg::curves_svg(&outcome.history, head)?;
        run.write(rundir::CURVES, curves.as_str().as_bytes())?;
        report_stop(outcome);
        let eval = self.evaluate(outcome)?;
        // Forward-only rows: validation every epoch, then the two final evaluations.
        let evaluated =
            (data.valid.rows * outcome.history.len() + eval.rows + data.train.rows) as u64;
        let footprint = meter.finish(
            &config.footprint,
            self.network,
            weights.len() as u64,
            outcome.samples,
            evaluated,
        );
        let run_id = run
            .path
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
        run.write(rundir::EMISSIONS, &footprint.emissions_csv(&run_id)?)?;
        let samples_per_second = outcome.samples as f64 / outcome.seconds.max(1e-9);
        let block = footprint.block();
        let mut summary = self.summary(
            outcome,
            &eval,
            footprint,
            weights.len(),
            samples_per_second,
            total,
        );
        summary.calibration = calibration;
        run.write_summary(&summary)?;
        say!(
            "trained {} epochs in {:.2}s ({samples_per_second:.0} samples/s); evaluating on the {} rows",
            outcome.history.len(),
            outcome.seconds,
            eval.name,
        );
        say_part!("{block}");
        if let Some(p) = &outcome.privacy {
            say_privacy(p);
        }
        run.write_status(&StatusFile::now(Status::Finished, ""))?;
        if config.privacy.is_some() {
            remove_checkpoints(run);
        }
        super::refresh_report(run);
        outln!("{}", final_line(&eval.metrics, head))?;
        Ok(ExitCode::SUCCESS)
    }

    /// The final model on the test rows when there are some, else on the validation rows (its
    /// outputs written to the run folder), and on the training rows.
    fn evaluate(&self, outcome: &Outcome) -> Result<Evaluation> {
        let (data, head) = (self.data, self.config.head());
        let (eval_name, eval_set) = match &data.test {
            Some(t) => ("test", t),
            None => ("validation", &data.valid),
        };
        let device = &self.selected.device;
        let outputs = train::outputs(&outcome.model, eval_set, device);
        let thresholds = self.thresholds(&outcome.model, &outputs)?;
        let width = outcome.model.output_width();
        let final_metrics = metrics::compute(head, (&outputs, width), &eval_set.y, &thresholds);
        self.run.write_outputs(eval_set, &outputs, head)?;
        crate::commands::warn_undefined(&final_metrics, &format!("the {eval_name} rows"));
        let train_metrics = train::evaluate(&outcome.model, &data.train, head, &thresholds, device);
        let per_label = metrics::per_label(
            head,
            &data.pre.labels.column_names(),
            (&outputs, width),
            &eval_set.y,
            &thresholds,
        );
        crate::commands::warn_undefined_labels(&per_label, &format!("the {eval_name} rows"));
        let per_label = per_label
            .into_iter()
            .map(|(name, m)| LabelRow {
                name,
                metrics: metric_map(m),
            })
            .collect();
        Ok(Evaluation {
            name: eval_name,
            rows: eval_set.rows,
            thresholds,
            metrics: final_metrics,
            train_metrics,
            per_label,
        })
    }

    /// `summary.json`'s record of the finished run.
    fn summary(
        &self,
        outcome: &Outcome,
        eval: &Evaluation,
        footprint: crate::footprint::Footprint,
        model_bytes: usize,
        samples_per_second: f64,
        total: Instant,
    ) -> Summary {
        let (config, data) = (self.config, self.data);
        let map = &data.pre.labels;
        let mut splits = vec![
            SplitProfile::of("train", &data.train.y, map),
            SplitProfile::of("validation", &data.valid.y, map),
        ];
        if let Some(t) = &data.test {
            splits.push(SplitProfile::of("test", &t.y, map));
        }
        Summary {
            finished: rundir::now_rfc3339(),
            splits,
            threshold: eval.thresholds[0],
            thresholds: if eval.thresholds.len() > 1 {
                eval.thresholds.clone()
            } else {
                Vec::new()
            },
            per_label: eval.per_label.clone(),
            threshold_rule: config.train.threshold.to_string(),
            class_weights: self.class_weights.clone(),
            backend: self.selected.kind.to_string(),
            device: self.selected.description.clone(),
            epochs_run: outcome.history.len(),
            best_epoch: outcome.best_epoch,
            stopped: outcome.stop,
            train_metrics: metric_map(eval.train_metrics.iter().copied()),
            final_epoch: outcome
                .history
                .last()
                .map(|r| metric_map(r.metrics.iter().map(|(k, v)| (k.as_str(), *v)))),
            evaluated_on: eval.name.to_string(),
            evaluation: metric_map(eval.metrics.iter().copied()),
            flush_denormals: config.backend.flush_denormals,
            warnings: config.warnings.clone(),
            data_warnings: data.warnings.clone(),
            parameters: self.network.num_params(),
            model_bytes,
            load_seconds: data.seconds,
            train_seconds: outcome.seconds,
            total_seconds: total.elapsed().as_secs_f64(),
            samples_per_second,
            footprint,
            privacy: outcome.privacy.clone(),
            calibration: None,
        }
    }
}

/// The final evaluation of a trained model.
struct Evaluation {
    /// The rows evaluated: `test` or `validation`.
    name: &'static str,
    /// How many.
    rows: usize,
    /// The decision thresholds the class metrics used: one, or one per label.
    thresholds: Vec<f64>,
    /// The metrics on those rows.
    metrics: metrics::Metrics,
    /// The same metrics on the training rows.
    train_metrics: metrics::Metrics,
    /// Each label's (or target's) scores on the evaluated rows, for several label columns.
    per_label: Vec<LabelRow>,
}

/// Says a private run's guarantee, in full.
fn say_privacy(p: &crate::run::summary::PrivacySummary) {
    say!(
        "privacy: (ε = {:.4}, δ = {:e})-differentially private after {} steps (σ = {}, C = {}, {} sampling, RDP order {}); covers {}",
        p.epsilon,
        p.delta,
        p.steps,
        p.noise_multiplier,
        p.max_grad_norm,
        match p.sampling {
            burnfit_privacy::Sampling::Poisson => "Poisson",
            burnfit_privacy::Sampling::Shuffle => "shuffled-batch",
        },
        p.order,
        p.covers
    );
}

/// Removes a finished private run's checkpoints: they hold its secret noise key, with which the
/// noise could be taken out of the intermediate models, and a finished run needs neither.
fn remove_checkpoints(run: &RunDir) {
    let checkpoints = run.file(rundir::CHECKPOINTS);
    if let Err(e) = std::fs::remove_dir_all(&checkpoints) {
        say!(
            "warning: {} not removed ({e}); it holds the run's secret noise key: remove it",
            checkpoints.display()
        );
    }
}
