//! `burnfit`: the binary. Parses arguments, runs a subcommand, and prints any error as a chain
//! (`error:` then `caused by:` lines) with a non-zero exit code; nothing a user does should end in
//! a panic.

// Data errors carry the file, row, column and value so messages can name them; they are built
// once per failed run, so their size on the error path does not matter.
#![allow(clippy::result_large_err)]

// First: its macros (`say!`, `outln!`) are used by every module below.
#[macro_use]
mod term;

mod backend;
mod calibrate;
mod cli;
mod commands;
mod config;
mod data;
mod explain;
mod export;
mod files;
mod footprint;
mod head;
mod history;
mod init_from;
mod lock;
mod metrics;
mod output;
mod parity;
mod pipeline;
mod ranking;
mod report;
mod resources;
mod run;
mod stop;
mod sweep;
mod threads;
mod threshold;
mod train;

use std::process::ExitCode;

/// Cases per property test: a few thousand in every test run; `BURNFIT_FUZZ_CASES` raises it
/// for a long fuzzing session (its length and findings are in docs/RELIABILITY.md).
#[cfg(test)]
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("BURNFIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

use clap::Parser;

use cli::{Cli, Command};

/// A training step allocates and frees dozens of small tensors; mimalloc's thread-local free
/// lists make a batch-32 step of the seed network 12 % faster than glibc's malloc (450 → 390 µs,
/// `docs/PERFORMANCE.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Long, but flat: one arm per subcommand, each unpacking its arguments for `commands`.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.no_cache {
        data::cache::disable();
    }
    if matches!(
        cli.command,
        Command::Synth { .. } | Command::Inspect { .. } | Command::Init { .. }
    ) {
        // No config to read the mode from: the default's.
        threads::init_all(config::BackendConfig::default().flush_denormals);
    }
    match cli.command {
        Command::Train {
            config,
            set,
            out,
            resume,
            dry_run,
            init_from,
        } => {
            let args = commands::TrainArgs {
                init_from: init_from.as_deref(),
                config: config.as_deref(),
                sets: &set,
                out,
                resume: resume.as_deref(),
                dry_run,
            };
            commands::train(args, stop::flag())
        }
        Command::Evaluate {
            model,
            data,
            json,
            backend,
            threshold,
        } => commands::evaluate(
            &model,
            &data,
            json,
            backend.as_deref(),
            threshold.map(|t| t.0),
        ),
        Command::Predict {
            model,
            data,
            out,
            force,
            backend,
            threshold,
            keep,
        } => commands::predict(
            &model,
            &data,
            &out,
            force,
            commands::PredictOptions {
                backend: backend.as_deref(),
                threshold: threshold.map(|t| t.0),
                keep: &keep,
            },
        ),
        Command::Config { docs: true, .. } => {
            out!("{}", config::docs::render())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { config, set, .. } => {
            let c = config::Config::load(config.as_deref(), &set)?;
            commands::report_warnings(&c);
            out!("{}", c.to_toml_shown())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            rows,
            features,
            informative,
            task,
            class_sep,
            label_noise,
            classes,
            labels,
            seed,
            out,
            force,
        } => {
            if classes.is_some() && task != config::Task::Multiclass {
                anyhow::bail!("--classes is for --task multiclass");
            }
            if labels.is_some() && task != config::Task::Multilabel {
                anyhow::bail!("--labels is for --task multilabel");
            }
            // Every flag left out takes the config's default for the same key.
            let d = config::SyntheticConfig::default();
            let synthetic = config::SyntheticConfig {
                task,
                rows,
                features,
                informative: informative.unwrap_or(d.informative.min(features)),
                class_sep: class_sep.unwrap_or(d.class_sep),
                label_noise: label_noise.unwrap_or(d.label_noise),
                classes: classes.unwrap_or(d.classes),
                labels: labels.unwrap_or(d.labels),
                seed: None,
            };
            let seed = seed.unwrap_or(config::Config::default().seed);
            commands::synth(&synthetic, seed, &out, output::Replace { force })
        }
        Command::Parity {
            config,
            set,
            backends,
            steps,
            tolerance,
            json,
        } => commands::parity(config.as_deref(), &set, &backends, steps, tolerance, json),
        Command::Explain {
            model,
            data,
            repeats,
            top,
            metric,
            rows,
            seed,
            out,
            force,
            backend,
        } => commands::explain(&commands::ExplainArgs {
            dir: &model,
            data: &data,
            repeats,
            top,
            metric: metric.as_deref(),
            rows: &rows,
            seed,
            out: out.as_deref(),
            force: output::Replace { force },
            backend: backend.as_deref(),
        }),
        Command::Cv {
            config,
            set,
            folds,
            stratify,
            seed,
            jobs,
            out,
        } => commands::cv::cv(
            &commands::cv::CvArgs {
                config: config.as_deref(),
                sets: &set,
                folds,
                stratify,
                seed,
                jobs,
                out,
            },
            stop::flag(),
        ),
        Command::Sweep {
            config,
            set,
            jobs,
            out,
            trial,
            collect,
            count,
        } => match collect {
            Some(dir) => commands::sweep::collect(&dir),
            None => commands::sweep::sweep(
                &commands::sweep::SweepArgs {
                    config: config.as_deref(),
                    sets: &set,
                    jobs,
                    out,
                    trial,
                    count,
                },
                stop::flag(),
            ),
        },
        Command::Export {
            model,
            format,
            out,
            force,
        } => commands::export::export(&model, format, &out, output::Replace { force }),
        Command::Report { runs, out, force } => {
            commands::report::report(&runs, out.as_deref(), output::Replace { force })
        }
        Command::Runs { dir, sort } => commands::report::runs(&dir, sort.as_deref()),
        Command::Inspect {
            data,
            categorical,
            load_only: true,
        } => commands::load_only(&data, &categorical),
        Command::Inspect {
            data, categorical, ..
        } => commands::inspect(&data, &categorical),
        Command::Init {
            data,
            label,
            out,
            force,
            loss,
            positive,
        } => commands::init(commands::InitArgs {
            data: &data,
            labels: &label,
            out: out.as_deref(),
            force,
            loss,
            positive: positive.as_deref(),
        }),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = cli::Cli::command();
            // Into memory first: the generator panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "burnfit", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices { config, set } => {
            let c = config::Config::load(config.as_deref(), &set)?;
            commands::report_warnings(&c);
            threads::init_all(c.backend.flush_denormals);
            out!("{}", backend::describe_devices())?;
            out!("{}", threads::describe(c.backend.flush_denormals))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    // Burn makes tensors on its default device where it takes no device (an optimizer
    // record's load, on `--resume`): by default the first GPU backend compiled in, which would
    // start wgpu (and probe every adapter) in a flex run. burnfit picks its backend from the
    // config alone, so the default is pinned to flex, the always-present CPU backend (the
    // state moves to the run's device at its first step). Pinned here, before any thread
    // starts, and whatever the environment said: an unknown `BURN_DEVICE` panics inside Burn.
    std::env::set_var("BURN_DEVICE", "flex");
    // No transparent huge pages for this process. mimalloc advises its whole arena for them,
    // and where the kernel compacts memory for advised regions at fault time (Debian's
    // default, `defrag=madvise`), the first touch of each 2 MB page can wait on compaction:
    // a 1M x 100 CSV load took 0.95-1.95 s with them on the 2-core Xeon VM, 0.97-1.03 s
    // without (docs/PERFORMANCE.md). Where the call is refused the run goes on as before.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    if let Err(err) = stop::install() {
        say!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if let Some(signal) = stop::stopped_by(&err) {
                say!("stopped by signal {signal}; nothing half-written was left behind");
                return ExitCode::from(stop::exit_code(signal));
            }
            // `burnfit sweep --collect DIR | head -1`: the reader has what it wanted; nothing
            // to say, and nobody to say it to on stdout.
            if term::is_broken_pipe(&err) {
                return ExitCode::from(term::EXIT_BROKEN_PIPE);
            }
            say!("error: {err}");
            // Library errors name their source in their own message too (so they read well
            // alone); a cause already said by the line above is not repeated.
            let mut said = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    say!("  caused by: {text}");
                }
                said = text;
            }
            ExitCode::FAILURE
        }
    }
}
