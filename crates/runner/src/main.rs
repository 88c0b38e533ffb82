//! `burnfit`: the binary. Parses arguments, runs a subcommand, and prints any error as a chain
//! (`error:` then `caused by:` lines) with a non-zero exit code; nothing a user does should end in
//! a panic.

// Data errors carry the file, row, column and value so messages can name them; they are built
// once per failed run, so their size on the error path does not matter.
#![allow(clippy::result_large_err)]

mod backend;
mod cli;
mod commands;
mod config;
mod data;
mod explain;
mod footprint;
mod history;
mod metrics;
mod parity;
mod pipeline;
mod plot;
mod run;
mod threads;
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
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use cli::{Cli, Command};

/// A training step allocates and frees dozens of small tensors; mimalloc's thread-local free
/// lists make a batch-32 step of the seed network 12 % faster than glibc's malloc (450 → 390 µs,
/// `docs/PERFORMANCE.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Long, but flat: one arm per subcommand, each unpacking its arguments for `commands`.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if matches!(cli.command, Command::Synth { .. } | Command::Inspect { .. }) {
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
        } => {
            // Ctrl-C asks the loop to stop after the current step and checkpoint; a second one,
            // with the flag already set, exits at once (signal-hook's documented pattern).
            let interrupt = Arc::new(AtomicBool::new(false));
            use signal_hook::consts::SIGINT;
            let _ = signal_hook::flag::register_conditional_shutdown(
                SIGINT,
                i32::from(commands::EXIT_INTERRUPTED),
                interrupt.clone(),
            );
            let _ = signal_hook::flag::register(SIGINT, interrupt.clone());
            let args = commands::TrainArgs {
                config: config.as_deref(),
                sets: &set,
                out,
                resume: resume.as_deref(),
                dry_run,
            };
            commands::train(args, &interrupt)
        }
        Command::Evaluate {
            model,
            data,
            json,
            backend,
        } => commands::evaluate(&model, &data, json, backend.as_deref()),
        Command::Predict {
            model,
            data,
            out,
            backend,
        } => commands::predict(&model, &data, &out, backend.as_deref()),
        Command::Config { config, set } => {
            let c = config::Config::load(config.as_deref(), &set)?;
            print!("{}", c.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth {
            rows,
            features,
            informative,
            task,
            class_sep,
            label_noise,
            seed,
            out,
        } => {
            // Every flag left out takes the config's default for the same key.
            let d = config::SyntheticConfig::default();
            let synthetic = config::SyntheticConfig {
                task,
                rows,
                features,
                informative: informative.unwrap_or(d.informative.min(features)),
                class_sep: class_sep.unwrap_or(d.class_sep),
                label_noise: label_noise.unwrap_or(d.label_noise),
                seed: None,
            };
            let seed = seed.unwrap_or(config::Config::default().seed);
            commands::synth(&synthetic, seed, &out)
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
            backend: backend.as_deref(),
        }),
        Command::Inspect { data, categorical } => commands::inspect(&data, &categorical),
        Command::Devices { config, set } => {
            let c = config::Config::load(config.as_deref(), &set)?;
            threads::init_all(c.backend.flush_denormals);
            print!("{}", backend::describe_devices());
            print!("{}", threads::describe(c.backend.flush_denormals));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `burnfit inspect ... | head` closing the pipe early is not an error.
            if err
                .chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err}");
            // Library errors name their source in their own message too (so they read well
            // alone); a cause already said by the line above is not repeated.
            let mut said = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                said = text;
            }
            ExitCode::FAILURE
        }
    }
}
