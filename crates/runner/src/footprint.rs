//! What a run cost: compute (FLOPs from the network's shape), time, memory, energy (measured from
//! RAPL counters where the machine exposes them, else estimated the way CodeCarbon does), carbon
//! and money.
//!
//! Energy is the whole CPU package's (RAPL counts every process on it) over the command's
//! lifetime, which is what the machine actually drew while the run took it; on a shared machine
//! it over-counts, and the block says "measured" or "estimated" so nobody mistakes one for the
//! other. GPU energy is not measured.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use burnfit_model::MlpConfig;
use serde::{Deserialize, Serialize};

use crate::config::FootprintConfig;
use crate::resources;

/// CodeCarbon's CPU power when the CPU model is unknown (its `DEFAULT_CPU_POWER`), in watts.
pub(crate) const DEFAULT_TDP_WATTS: f64 = 85.0;

/// CodeCarbon's RAM power rule: 3 W per 8 GB, in watts per GB.
pub(crate) const RAM_WATTS_PER_GB: f64 = 3.0 / 8.0;

/// Floating-point operations per sample of the dense network, counted by hand from its shape.
///
/// A dense layer `in → out` costs `2·in·out` for the matrix product (a multiply and an add per
/// weight) and `out` for the bias, forward. Backward costs `2·in·out` for the weight gradient,
/// `2·in·out` for the gradient to its input (skipped for the first layer: nobody needs the data's
/// gradient) and `out` for the bias gradient. Activations are not counted (comparisons and one
/// `exp` per output, a rounding error against the products).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Flops {
    /// Forward pass, per sample.
    pub(crate) forward: u64,
    /// Backward pass, per sample.
    pub(crate) backward: u64,
}

impl Flops {
    /// Counts for `network`.
    pub(crate) fn of(network: &MlpConfig) -> Self {
        let mut forward = 0u64;
        let mut backward = 0u64;
        for (i, (input, output)) in network.layer_shapes().into_iter().enumerate() {
            // Saturating: the widths are the user's (the memory check refuses such a network
            // before training, but the count is also shown by `--dry-run`'s path).
            let (input, output) = (input as u64, output as u64);
            let products = resources::product(&[2, input, output]);
            forward = forward.saturating_add(products.saturating_add(output));
            backward = backward.saturating_add(products.saturating_add(output));
            if i > 0 {
                backward = backward.saturating_add(products);
            }
        }
        Self { forward, backward }
    }

    /// One training step, per sample.
    pub(crate) fn train_step(self) -> u64 {
        self.forward.saturating_add(self.backward)
    }
}

/// RAPL energy counters: one per CPU package (`intel-rapl:N`; sub-zones such as `intel-rapl:N:M`
/// are parts of a package and would double count).
#[derive(Debug, Clone)]
pub(crate) struct Rapl {
    zones: Vec<(PathBuf, u64)>,
}

impl Rapl {
    /// The package zones under `root` (normally `/sys/class/powercap`) whose counters can be
    /// read, or `None` when there are none (no RAPL, or not readable without root).
    pub(crate) fn open(root: &Path) -> Option<Self> {
        let mut zones = Vec::new();
        for entry in std::fs::read_dir(root).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_package = name
                .strip_prefix("intel-rapl:")
                .is_some_and(|rest| !rest.contains(':'));
            if !is_package {
                continue;
            }
            let dir = entry.path();
            let readable = read_u64(&dir.join("energy_uj")).is_some();
            // Without the range a wrap cannot be undone; a zone without one is skipped.
            if let (true, Some(range)) = (readable, read_u64(&dir.join("max_energy_range_uj"))) {
                zones.push((dir, range));
            }
        }
        zones.sort();
        (!zones.is_empty()).then_some(Self { zones })
    }

    /// The counters now, in microjoules, one per zone.
    pub(crate) fn read(&self) -> Option<Vec<u64>> {
        self.zones
            .iter()
            .map(|(dir, _)| read_u64(&dir.join("energy_uj")))
            .collect()
    }

    /// Joules between two readings, undoing one wrap-around per zone (a counter wraps at
    /// `max_energy_range_uj`, every few minutes to hours depending on the machine; a run longer
    /// than one wrap period between readings would need more frequent reads).
    pub(crate) fn joules_between(&self, start: &[u64], end: &[u64]) -> f64 {
        self.zones
            .iter()
            .zip(start.iter().zip(end))
            .map(|((_, range), (&s, &e))| {
                // In u128: a zone's range as read from a file may be any u64.
                let (s, e, range) = (u128::from(s), u128::from(e), u128::from(*range));
                let uj = if e >= s {
                    e - s
                } else {
                    (e + range).saturating_sub(s)
                };
                uj as f64 / 1e6
            })
            .sum()
    }
}

/// A number from a sysfs file: a few bytes, read at most a page (sysfs files report 4096 as
/// their size; a link to `/dev/zero` planted there must not fill the memory), never from a
/// FIFO (which would wait for a writer).
fn read_u64(path: &Path) -> Option<u64> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let bytes = crate::files::read_limited(path, 4096, "counter file").ok()?;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// The most average power a measurement may show (all RAPL zones of a machine together): well
/// above any server's CPU packages, far below what a lying counter gives.
const MAX_WATTS: f64 = 5_000.0;

/// This process's CPU seconds (user + system), from `/proc/self/stat`; `None` off Linux.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of USER_HZ, 100 on every mainstream architecture.
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of this process in bytes (`VmHWM`); `None` off Linux.
pub(crate) fn peak_memory_bytes() -> Option<u64> {
    crate::resources::proc_kib("/proc/self/status", "VmHWM:")
}

/// Total memory of the machine in bytes.
pub(crate) fn total_memory_bytes() -> Option<u64> {
    crate::resources::proc_kib("/proc/meminfo", "MemTotal:")
}

/// The CPU's model name, from `/proc/cpuinfo`.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Started when the command starts; [`Meter::finish`] turns it into a [`Footprint`].
pub(crate) struct Meter {
    started: Instant,
    started_at: SystemTime,
    cpu_start: Option<f64>,
    rapl: Option<(Rapl, Vec<u64>)>,
}

impl Meter {
    /// Starts measuring, with RAPL counters under `rapl_root` if readable.
    pub(crate) fn start(rapl_root: &Path) -> Self {
        let rapl = Rapl::open(rapl_root).and_then(|r| r.read().map(|start| (r, start)));
        Self {
            started: Instant::now(),
            started_at: SystemTime::now(),
            cpu_start: cpu_seconds(),
            rapl,
        }
    }

    /// Everything measured since [`start`](Self::start), with compute counted for
    /// `trained` training samples and `evaluated` forward-only samples.
    pub(crate) fn finish(
        &self,
        config: &FootprintConfig,
        network: &MlpConfig,
        model_bytes: u64,
        trained: u64,
        evaluated: u64,
    ) -> Footprint {
        let wall = self.started.elapsed().as_secs_f64();
        let cpu = match (self.cpu_start, cpu_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let peak = peak_memory_bytes();
        let flops = Flops::of(network);
        let total_flops =
            trained as f64 * flops.train_step() as f64 + evaluated as f64 * flops.forward as f64;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ram_gb = peak.unwrap_or(0) as f64 / 1e9;
        let ram_power = ram_gb * RAM_WATTS_PER_GB;
        let ram_joules = ram_power * wall;
        let measured = self
            .rapl
            .as_ref()
            .and_then(|(rapl, start)| rapl.read().map(|end| rapl.joules_between(start, &end)));
        // A counter that wrapped more than once between two reads, or whose range file lies,
        // gives a figure no CPU draws: it is not reported as a measurement.
        let implausible =
            measured.filter(|&j| !(j.is_finite() && j >= 0.0 && j <= MAX_WATTS * wall.max(1.0)));
        let measured = measured.filter(|_| implausible.is_none());
        let tdp = config.cpu_tdp_watts.map_or(DEFAULT_TDP_WATTS, |w| w.0);
        let (cpu_joules, method) = match measured {
            Some(j) => (j, "measured (RAPL)".to_string()),
            None => {
                // CodeCarbon's fallback: TDP times the share of the machine's CPUs used.
                let utilisation = cpu.map_or(1.0, |c| (c / (wall * cpus as f64)).clamp(0.0, 1.0));
                (
                    tdp * utilisation * wall,
                    format!(
                        "estimated (TDP {tdp} W{} x CPU utilisation {:.0}%; {})",
                        if config.cpu_tdp_watts.is_some() { "" } else { ", CodeCarbon's default" },
                        utilisation * 100.0,
                        match implausible {
                            Some(j) => format!(
                                "the RAPL counters gave {:.0} W on average, more than any CPU draws, so they were not used",
                                j / wall.max(1.0)
                            ),
                            None => "no readable RAPL counter".to_string(),
                        }
                    ),
                )
            }
        };
        let kwh = (cpu_joules + ram_joules) / 3.6e6;
        Footprint {
            parameters: network.num_params() as u64,
            model_bytes,
            flops_per_sample_forward: flops.forward,
            flops_per_sample_backward: flops.backward,
            total_flops,
            gflops_per_second: total_flops / 1e9 / wall.max(1e-9),
            wall_seconds: wall,
            cpu_seconds: cpu,
            peak_memory_bytes: peak,
            cpu_energy_kwh: cpu_joules / 3.6e6,
            ram_energy_kwh: ram_joules / 3.6e6,
            energy_kwh: kwh,
            energy_method: method,
            cpu_power_watts: cpu_joules / wall.max(1e-9),
            ram_power_watts: ram_power,
            co2e_grams: kwh * config.pue.0 * config.grid_gco2_per_kwh.0,
            cost: kwh * config.price_per_kwh.0,
            currency: config.currency.clone(),
            pue: config.pue.0,
            grid_gco2_per_kwh: config.grid_gco2_per_kwh.0,
            started_at: humantime::format_rfc3339_seconds(self.started_at).to_string(),
            cpu_count: cpus,
            cpu_model: cpu_model(),
        }
    }
}

/// What a run cost; printed at the end of `train` and written into `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Footprint {
    /// Trainable parameters.
    pub(crate) parameters: u64,
    /// Bytes of the saved weights.
    pub(crate) model_bytes: u64,
    /// FLOPs of one forward pass, per sample.
    pub(crate) flops_per_sample_forward: u64,
    /// FLOPs of one backward pass, per sample.
    pub(crate) flops_per_sample_backward: u64,
    /// FLOPs of the whole run (training steps and evaluation passes).
    pub(crate) total_flops: f64,
    /// `total_flops` over the wall time.
    pub(crate) gflops_per_second: f64,
    /// Wall seconds of the command.
    pub(crate) wall_seconds: f64,
    /// CPU seconds of the process (all threads).
    pub(crate) cpu_seconds: Option<f64>,
    /// Peak resident memory.
    pub(crate) peak_memory_bytes: Option<u64>,
    /// CPU energy.
    pub(crate) cpu_energy_kwh: f64,
    /// RAM energy (CodeCarbon's 3 W per 8 GB, for the process's peak memory).
    pub(crate) ram_energy_kwh: f64,
    /// CPU plus RAM.
    pub(crate) energy_kwh: f64,
    /// "measured (RAPL)" or "estimated (...)", with how.
    pub(crate) energy_method: String,
    /// Mean CPU power over the run.
    pub(crate) cpu_power_watts: f64,
    /// RAM power.
    pub(crate) ram_power_watts: f64,
    /// `energy × PUE × grid intensity`.
    pub(crate) co2e_grams: f64,
    /// `energy × price`.
    pub(crate) cost: f64,
    /// Of `cost`.
    pub(crate) currency: String,
    /// Power usage effectiveness applied.
    pub(crate) pue: f64,
    /// Grid carbon intensity applied.
    pub(crate) grid_gco2_per_kwh: f64,
    /// When the command started (UTC, RFC 3339).
    pub(crate) started_at: String,
    /// Logical CPUs.
    pub(crate) cpu_count: usize,
    /// CPU model name.
    pub(crate) cpu_model: String,
}

impl Footprint {
    /// The block printed at the end of `train`.
    pub(crate) fn block(&self) -> String {
        let mem = self
            .peak_memory_bytes
            .map_or("unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6));
        let cpu = self
            .cpu_seconds
            .map_or("unknown".into(), |c| format!("{c:.1} s"));
        format!(
            "footprint:\n  \
             parameters       {} ({} bytes on disk)\n  \
             FLOPs per sample {} forward, {} backward\n  \
             compute          {:.3e} FLOPs, {:.1} GFLOP/s achieved\n  \
             time             {:.1} s wall, {cpu} CPU\n  \
             peak memory      {mem}\n  \
             energy           {:.6} kWh, {}\n  \
             carbon           {:.3} gCO2e (grid {} g/kWh, PUE {})\n  \
             cost             {:.6} {}\n",
            self.parameters,
            self.model_bytes,
            self.flops_per_sample_forward,
            self.flops_per_sample_backward,
            self.total_flops,
            self.gflops_per_second,
            self.wall_seconds,
            self.energy_kwh,
            self.energy_method,
            self.co2e_grams,
            self.grid_gco2_per_kwh,
            self.pue,
            self.cost,
            self.currency,
        )
    }

    /// `emissions.csv`: CodeCarbon's column names and units (seconds, kg CO2e, kWh, W, GB)
    /// where they apply, plus `energy_method`.
    pub(crate) fn emissions_csv(&self, run_id: &str) -> Result<Vec<u8>, csv::Error> {
        let kg = self.co2e_grams / 1000.0;
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "timestamp",
            "project_name",
            "run_id",
            "duration",
            "emissions",
            "emissions_rate",
            "cpu_power",
            "gpu_power",
            "ram_power",
            "cpu_energy",
            "gpu_energy",
            "ram_energy",
            "energy_consumed",
            "os",
            "cpu_count",
            "cpu_model",
            "gpu_count",
            "gpu_model",
            "ram_total_size",
            "tracking_mode",
            "pue",
            "energy_method",
        ])?;
        w.write_record([
            self.started_at.clone(),
            "burnfit".into(),
            run_id.into(),
            self.wall_seconds.to_string(),
            kg.to_string(),
            (kg / self.wall_seconds.max(1e-9)).to_string(),
            self.cpu_power_watts.to_string(),
            "0".into(),
            self.ram_power_watts.to_string(),
            self.cpu_energy_kwh.to_string(),
            "0".into(),
            self.ram_energy_kwh.to_string(),
            self.energy_kwh.to_string(),
            std::env::consts::OS.into(),
            self.cpu_count.to_string(),
            self.cpu_model.clone(),
            "0".into(),
            String::new(),
            total_memory_bytes()
                .map_or(0.0, |b| b as f64 / 1e9)
                .to_string(),
            "process".into(),
            self.pue.to_string(),
            self.energy_method.clone(),
        ])?;
        w.into_inner().map_err(|e| e.into_error().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_the_seed_network_equal_the_hand_count() {
        let f = Flops::of(&MlpConfig::new(100));
        // Forward: 2·100·128 + 128, 2·128·64 + 64, 2·64·1 + 1.
        assert_eq!(f.forward, 25_728 + 16_448 + 129);
        // Backward: the first layer has no input gradient.
        assert_eq!(f.backward, 25_728 + (4 * 128 * 64 + 64) + (4 * 64 + 1));
        assert_eq!(f.train_step(), 42_305 + 58_817);
    }

    fn zone(root: &Path, name: &str, energy: u64, range: u64) {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("energy_uj"), format!("{energy}\n")).unwrap();
        std::fs::write(d.join("max_energy_range_uj"), format!("{range}\n")).unwrap();
        std::fs::write(d.join("name"), "package-0\n").unwrap();
    }

    #[test]
    fn rapl_reads_package_zones_and_undoes_a_wrap() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path();
        zone(root, "intel-rapl:0", 1_000_000, 262_143_328_850);
        zone(root, "intel-rapl:1", 262_143_000_000, 262_143_328_850);
        // A sub-zone (part of package 0) must not be added again.
        zone(root, "intel-rapl:0:0", 5, 262_143_328_850);
        let rapl = Rapl::open(root).unwrap();
        let start = rapl.read().unwrap();
        assert_eq!(start, vec![1_000_000, 262_143_000_000]);
        // Package 0 gains 2 J; package 1 wraps: 328,850 µJ to the top, then 671,150 µJ.
        zone(root, "intel-rapl:0", 3_000_000, 262_143_328_850);
        zone(root, "intel-rapl:1", 671_150, 262_143_328_850);
        let end = rapl.read().unwrap();
        assert!((rapl.joules_between(&start, &end) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn without_a_readable_counter_the_energy_is_estimated() {
        let tmp = tempfile::TempDir::new().unwrap();
        assert!(Rapl::open(tmp.path()).is_none());
        // A zone whose counter is unreadable (as for a non-root user on recent kernels).
        std::fs::create_dir_all(tmp.path().join("intel-rapl:0")).unwrap();
        assert!(Rapl::open(tmp.path()).is_none());
        let meter = Meter::start(tmp.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let config = FootprintConfig::default();
        let f = meter.finish(&config, &MlpConfig::new(100), 1000, 1000, 100);
        assert!(
            f.energy_method.starts_with("estimated"),
            "{}",
            f.energy_method
        );
        assert!(f.energy_method.contains("85 W"), "{}", f.energy_method);
        // CodeCarbon's rule, from the figures the footprint reports itself (the process's CPU
        // time over a short sleep may be zero ticks, so no bound on its size).
        let cpus = f.cpu_count as f64;
        let utilisation = (f.cpu_seconds.unwrap() / (f.wall_seconds * cpus)).clamp(0.0, 1.0);
        let want_kwh = 85.0 * utilisation * f.wall_seconds / 3.6e6;
        assert!((f.cpu_energy_kwh - want_kwh).abs() < 1e-12, "{f:?}");
        assert!(f.cpu_energy_kwh <= 85.0 * f.wall_seconds / 3.6e6);
        assert!((f.co2e_grams - f.energy_kwh * 475.0).abs() < 1e-12);
        assert_eq!(f.total_flops, 1000.0 * 101_122.0 + 100.0 * 42_305.0);
        let csv = String::from_utf8(f.emissions_csv("run").unwrap()).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header[3], "duration");
        assert_eq!(header[4], "emissions");
        assert_eq!(header[12], "energy_consumed");
        assert!(lines.next().unwrap().contains("estimated"));
    }

    #[test]
    fn a_measured_run_says_so() {
        let tmp = tempfile::TempDir::new().unwrap();
        zone(tmp.path(), "intel-rapl:0", 0, 1_000_000_000);
        let meter = Meter::start(tmp.path());
        zone(tmp.path(), "intel-rapl:0", 600_000_000, 1_000_000_000);
        let config = FootprintConfig::default();
        let f = meter.finish(&config, &MlpConfig::new(100), 1000, 0, 0);
        assert_eq!(f.energy_method, "measured (RAPL)");
        // 600,000,000 µJ = 600 J.
        assert!((f.cpu_energy_kwh - 600.0 / 3.6e6).abs() < 1e-12);
    }

    #[test]
    fn a_counter_that_shows_more_power_than_any_cpu_draws_is_not_a_measurement() {
        let tmp = tempfile::TempDir::new().unwrap();
        zone(tmp.path(), "intel-rapl:0", 0, u64::MAX);
        let meter = Meter::start(tmp.path());
        // 10^9 J within a second: a lying counter, not a CPU.
        zone(tmp.path(), "intel-rapl:0", 1_000_000_000_000_000, u64::MAX);
        let f = meter.finish(
            &FootprintConfig::default(),
            &MlpConfig::new(100),
            1000,
            0,
            0,
        );
        assert!(
            f.energy_method.starts_with("estimated")
                && f.energy_method.contains("more than any CPU draws"),
            "{}",
            f.energy_method
        );
        assert!(f.cpu_energy_kwh < 1.0, "{f:?}");
    }
}
