//! The command line (clap derive; the help text is these doc comments).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Fraction, Positive32, Task, UnitInterval};

/// Config-driven trainer for tabular data on Burn: load, clean, normalize, split, train a dense
/// network, evaluate and predict, all from one TOML file.
#[derive(Debug, Parser)]
#[command(name = "burnfit", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Parse every data file afresh: read nothing from the parsed-data cache and write nothing
    /// to it (for the commands that read data: train, evaluate, predict, inspect, init,
    /// explain, cv, sweep, parity; `data.cache = false` does the same from a config).
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Train a model (Keras's `fit`), then evaluate it; writes a run folder.
    Train {
        /// The TOML config (default: the built-in seed config).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key: `--set train.epochs=3 --set backend.kind=wgpu` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The run folder (default: `<output.dir>/<config name>-<timestamp>`); must not exist
        /// or be empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue an interrupted run from its last good checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "set", "out"])]
        resume: Option<PathBuf>,
        /// Load and prepare the data, build the network and print its summary, then stop
        /// without training or writing anything (checks a config in seconds).
        #[arg(long, conflicts_with = "resume")]
        dry_run: bool,
        /// Start from these weights instead of a seeded initialisation: a safetensors file
        /// with PyTorch `nn.Sequential` names (`burnfit export --format safetensors` writes
        /// one); every shape must match the config's network.
        #[arg(long, value_name = "FILE", conflicts_with = "resume")]
        init_from: Option<PathBuf>,
    },
    /// Export a trained model: ONNX with the preprocessing in the graph, or safetensors with
    /// PyTorch names and the preprocessing in the metadata.
    Export {
        /// The run folder of a finished `train`.
        #[arg(long)]
        model: PathBuf,
        /// `onnx` or `safetensors`.
        #[arg(long, value_enum)]
        format: crate::commands::export::Format,
        /// The file to write; an existing file needs --force.
        #[arg(long)]
        out: PathBuf,
        /// Replace the file if it exists (never one of the run's files).
        #[arg(long)]
        force: bool,
    },
    /// Write a commented config for your own CSV: every choice explicit and explained, from the
    /// file's columns as training reads them; `burnfit train --config FILE` then runs it.
    Init {
        /// The CSV.
        data: PathBuf,
        /// The column to predict; several (comma-separated or repeated) for several yes/no
        /// labels or several numeric targets.
        #[arg(long, value_name = "COLUMN", value_delimiter = ',', required = true)]
        label: Vec<String>,
        /// Where to write the config (`-` for stdout; default: the CSV's name with `.toml`, in
        /// the working folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the config file if it exists (never the CSV).
        #[arg(long)]
        force: bool,
        /// The loss, when the label's values could be read either way (whole numbers).
        #[arg(long, value_enum)]
        loss: Option<crate::commands::InitLoss>,
        /// Class 1, when the label's two values do not say which it is (`1` of 0/1, `Yes`,
        /// `true`, `Up` do).
        #[arg(long)]
        positive: Option<String>,
    },
    /// Print a shell's completion script for burnfit: `burnfit completions bash >
    /// ~/.local/share/bash-completion/completions/burnfit`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Load a CSV the way training would and print each column's kind (numeric, text,
    /// identifier-like, constant), missing cells, range, and the config line it suggests.
    Inspect {
        /// The CSV.
        #[arg(long)]
        data: PathBuf,
        /// Columns to read as text (one-hot at training time).
        #[arg(long, value_delimiter = ',')]
        categorical: Vec<String>,
        /// Only read the file and print how long that took (times the loader, and the
        /// parsed-data cache on a second run).
        #[arg(long)]
        load_only: bool,
    },
    /// Evaluate a trained model on a labelled CSV (Keras's `evaluate`).
    Evaluate {
        /// The run folder of a finished `train`.
        #[arg(long)]
        model: PathBuf,
        /// A CSV with the trained columns and the label.
        #[arg(long)]
        data: PathBuf,
        /// Print the metrics as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Run on another backend than the one trained on (flex, ndarray, wgpu, ...).
        #[arg(long)]
        backend: Option<String>,
        /// Decision threshold for accuracy, precision, recall and F1, strictly between 0 and 1
        /// (default: the one saved with the model).
        // A negative number is a value here, so that `--threshold -0.1` gets the range error,
        // not "unexpected argument".
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<Fraction>,
    },
    /// Predict for each row of a CSV (Keras's `predict`): the data row (from 1), any `--keep`
    /// columns, then the probability and the class as the label's own value (or the prediction).
    Predict {
        /// The run folder of a finished `train`.
        #[arg(long)]
        model: PathBuf,
        /// A CSV with the trained columns (the label may be absent).
        #[arg(long)]
        data: PathBuf,
        /// Where to write the predictions CSV (`-` for stdout); an existing file needs --force.
        #[arg(long)]
        out: PathBuf,
        /// Replace the file if it exists (never one of the inputs or a run folder's file).
        #[arg(long)]
        force: bool,
        /// Run on another backend than the one trained on.
        #[arg(long)]
        backend: Option<String>,
        /// Decision threshold for the class column, strictly between 0 and 1 (default: the one
        /// saved with the model).
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<Fraction>,
        /// Columns of the data to copy into the output as they are, after `row` (an ID column,
        /// say); comma-separated or repeated.
        #[arg(long, value_name = "COLUMN", value_delimiter = ',')]
        keep: Vec<String>,
    },
    /// Print the fully resolved config, defaults included; `--docs` lists every key instead.
    Config {
        /// The TOML config (default: the built-in seed config).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key, as for `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// List every key a config can hold, with its type, default and what it does.
        #[arg(long, conflicts_with_all = ["config", "set"])]
        docs: bool,
    },
    /// Write a synthetic data set as CSV (features `f0..`, label `label`).
    Synth {
        /// Rows (at least 1).
        #[arg(long)]
        rows: NonZeroUsize,
        /// Feature columns (at least 1).
        #[arg(long)]
        features: NonZeroUsize,
        /// Informative features, the first ones [default: `data.synthetic.informative`'s 10, or
        /// every feature when there are fewer].
        #[arg(long)]
        informative: Option<NonZeroUsize>,
        /// Binary classification, k classes (`--classes`), several yes/no labels (`--labels`)
        /// or regression.
        #[arg(long, value_enum, default_value_t = Task::Binary)]
        task: Task,
        /// Classes of `--task multiclass`, 2 to 1000 [default: `data.synthetic.classes`'s 3].
        #[arg(long)]
        classes: Option<NonZeroUsize>,
        /// Label columns of `--task multilabel`, 2 to 1000 [default: `data.synthetic.labels`'s
        /// 3].
        #[arg(long)]
        labels: Option<NonZeroUsize>,
        /// Distance between class clusters, > 0 [default: `data.synthetic.class_sep`'s].
        #[arg(long)]
        class_sep: Option<Positive32>,
        /// Share of labels replaced by a coin flip, in [0, 1) [default:
        /// `data.synthetic.label_noise`'s].
        #[arg(long)]
        label_noise: Option<UnitInterval>,
        /// Seed; the same seed gives a byte-identical file [default: the config's `seed`, 42].
        #[arg(long)]
        seed: Option<u64>,
        /// The CSV to write (`-` for stdout); an existing file needs --force.
        #[arg(long)]
        out: PathBuf,
        /// Replace the file if it exists (never one of the inputs or a run folder's file).
        #[arg(long)]
        force: bool,
    },
    /// Explain a trained model: permutation importance of each column (how much the metric
    /// drops when it is shuffled) and gradient × input for chosen rows.
    Explain {
        /// The run folder of a finished `train`.
        #[arg(long)]
        model: PathBuf,
        /// A labelled CSV (the validation or test data, ideally not the training data).
        #[arg(long)]
        data: PathBuf,
        /// Shuffles per column.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Columns to print and draw.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// The metric whose drop is measured (default: accuracy for BCE, rmse for MSE).
        #[arg(long)]
        metric: Option<String>,
        /// Rows of the CSV (1-based, as a spreadsheet shows them, header = row 1) to explain
        /// with gradient × input, e.g. `--rows 2,3,10`.
        #[arg(long, value_delimiter = ',')]
        rows: Vec<u64>,
        /// Seed of the shuffles.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write importance.csv, attributions.csv and importance.svg (default:
        /// `<model>/explain`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace files already in `--out` (the run's own `explain/` is always refreshed).
        #[arg(long)]
        force: bool,
        /// Run on another backend than the one trained on.
        #[arg(long)]
        backend: Option<String>,
    },
    /// k-fold cross-validation: one run per fold under one folder, each fitting its
    /// preprocessing on its own training rows; prints the mean ± sd of every metric and
    /// writes `cv.json` and a report. Run the same command again to continue an interrupted one.
    Cv {
        /// The TOML config (default: the built-in seed config).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key for every fold, as for `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Keep the class ratio in every fold (to within one row): `data.split.stratify = true`,
        /// which a classifier on a file already has by default (`--set
        /// data.split.stratify=false` for plain folds).
        #[arg(long)]
        stratify: bool,
        /// Seed of the fold assignment (and of the weights and shuffles: the config's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Folds trained at once, in separate processes; the cores are divided between them.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// The folder for the fold runs (default: `<output.dir>/<config name>-cv-<timestamp>`);
        /// an existing one from the same command is continued.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Hyperparameter sweep: every trial of the config's `[sweep]` as its own run under one
    /// folder, then a ranking, `sweep.csv` and the best trial's config. With `--trial I` (or
    /// in a Slurm or Kubernetes job array) one trial only; `--collect` ranks what has finished.
    Sweep {
        /// The TOML config with a `[sweep]` section.
        #[arg(long, short, required_unless_present = "collect")]
        config: Option<PathBuf>,
        /// Override a key for every trial, as for `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Trials trained at once, in separate processes; the cores are divided between them.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// The sweep folder (default: `<output.dir>/<config name>-sweep-<timestamp>`); an
        /// existing one of the same sweep is continued.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only trial I, 0-based (default in a job array: `SLURM_ARRAY_TASK_ID` or
        /// `JOB_COMPLETION_INDEX`); needs --out, the folder shared by the array.
        #[arg(long, value_name = "I")]
        trial: Option<usize>,
        /// Rank the finished trials of a sweep folder and say what is missing or failed.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "set", "out", "trial", "count"])]
        collect: Option<PathBuf>,
        /// Print the number of trials (for `sbatch --array=0-(N-1)`) and stop.
        #[arg(long)]
        count: bool,
    },
    /// Write the HTML report of a run (into its folder, `report.html`), or one page comparing
    /// several runs (`--out`, default `report.html` here).
    Report {
        /// Run folders: one for its own report, several to compare them.
        #[arg(required = true, value_name = "RUN_DIR")]
        runs: Vec<PathBuf>,
        /// The page to write; an existing file needs --force.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the page if it exists (never a file inside a run folder other than its
        /// own report).
        #[arg(long)]
        force: bool,
    },
    /// List the runs in a folder: name, date, data, status and final metrics.
    Runs {
        /// The folder holding run folders.
        #[arg(default_value = "runs")]
        dir: PathBuf,
        /// Order by this final metric, best first (`auc`, `val_loss`, `rmse`, ...).
        #[arg(long)]
        sort: Option<String>,
    },
    /// List the backends compiled in and the GPU adapters found, and check how each kind of
    /// compute thread treats subnormal floats under the config's `backend.flush_denormals`.
    Devices {
        /// The config whose `[backend]` to use; none: the defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key, e.g. `--set backend.flush_denormals=false` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Run the same training steps on several backends from the same initial weights and
    /// compare the losses and final weights; exits non-zero when a backend drifts past its
    /// tolerance.
    Parity {
        /// The TOML config (default: the built-in seed config).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key, as for `train`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Backends to compare, the first being the reference: `flex,ndarray,wgpu`; a device
        /// may follow a colon (`wgpu:cpu`, `cuda:1`).
        #[arg(long, value_delimiter = ',', default_value = "flex,ndarray")]
        backends: Vec<String>,
        /// Optimizer steps on each backend.
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// Largest allowed relative weight difference (default: 1e-5 for CPU backends, 1e-3
        /// for GPU backends).
        #[arg(long)]
        tolerance: Option<f64>,
        /// Print the report as JSON on stdout instead of the per-step loss CSV.
        #[arg(long)]
        json: bool,
    },
}
