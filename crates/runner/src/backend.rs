//! `[backend]` → a Burn [`Device`], or a clear error that says what this build and machine offer.
//!
//! Burn 0.22 puts the backend in the runtime `Device`: this file turns `[backend]` into one, and
//! says which backends are compiled in and which GPU adapters exist.

use burn::tensor::{Device, Tensor};

use burnfit_model::{MlpConfig, UpdatePath};

use crate::config::{BackendConfig, BackendKind};

/// A backend that cannot be used here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    /// The backend was not compiled into this binary.
    #[error("backend `{kind}` is not compiled into this build; available: {available}\nhint: rebuild with `cargo build --release --features {kind}`")]
    NotCompiled {
        /// The backend asked for.
        kind: BackendKind,
        /// What is compiled in.
        available: String,
    },
    /// No adapter or GPU matches.
    #[error("backend `{kind}`: {reason}; available here: {available}")]
    Unavailable {
        /// The backend asked for.
        kind: BackendKind,
        /// What was missing.
        reason: String,
        /// What this machine offers.
        available: String,
    },
    /// `backend.device` is not understood.
    #[error(
        "backend.device = `{0}` is not one of: default, discrete:N, integrated:N, virtual:N, cpu"
    )]
    BadDevice(String),
}

/// The backends compiled into this binary.
pub(crate) fn compiled() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut v = vec!["flex", "ndarray"];
    #[cfg(feature = "wgpu")]
    v.push("wgpu");
    #[cfg(feature = "vulkan")]
    v.push("vulkan");
    #[cfg(feature = "cuda")]
    v.push("cuda");
    v
}

/// Rows a part of a training batch holds at most on flex ([`Selected::part_rows`]).
const PART_ROWS: usize = 512;

/// [`Selected::part_rows`] for a backend `kind` before one is selected (the memory check).
pub(crate) fn part_rows(kind: BackendKind) -> Option<usize> {
    (kind == BackendKind::Flex).then_some(PART_ROWS)
}

/// The chosen device and a one-line description for logs and `summary.json`.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    /// The device (without autodiff).
    pub(crate) device: Device,
    /// The backend actually used (`auto` resolves to one).
    pub(crate) kind: BackendKind,
    /// e.g. `flex, AVX-512 products (CPU)` or `wgpu: llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub(crate) description: String,
    /// A GPU backend on a software renderer (Mesa's lavapipe): real, but many times slower than
    /// flex on the same CPU.
    pub(crate) software: bool,
}

impl Selected {
    /// Whether a forward and backward pass of `network` over `batch` rows has a matrix
    /// product this backend splits over rayon's pool ([`Selected::keeps_pool_busy`]).
    pub(crate) fn splits_products(&self, network: &MlpConfig, batch: usize) -> bool {
        // burn-flex 0.22.1 splits a product of at least this many multiply-adds (m·k·n) over
        // rayon's pool (`PARALLEL_THRESHOLD` in its `ops/matmul.rs`).
        const FLEX_SPLIT: usize = 192 * 192 * 192;
        self.kind == BackendKind::Flex
            && network
                .layer_shapes()
                .iter()
                .any(|&(i, o)| batch.saturating_mul(i).saturating_mul(o) >= FLEX_SPLIT)
    }

    /// Whether a training step at `batch` rows splits its work over rayon's pool, as parts of
    /// the batch ([`Selected::part_rows`]) or inside a part's matrix products: then the trainer
    /// keeps the pool's threads spinning for work ([`crate::threads::on_pool_spinning`]).
    pub(crate) fn keeps_pool_busy(&self, network: &MlpConfig, batch: usize) -> bool {
        let part = self.part_rows().map_or(batch, |p| batch.min(p));
        batch > part || self.splits_products(network, part)
    }

    /// Up to how many rows of a batch one forward and backward pass takes on this backend
    /// (`train::step_on` splits larger batches into parts that run in parallel); `None`: a
    /// batch is always one pass.
    ///
    /// On flex, a batch in one pass spreads over the cores only inside its larger matrix
    /// products, and its element-wise operations run on one. 512 rows keep the seed network's
    /// products just under flex's split (192³ multiply-adds), so each part is one thread's
    /// work. A `step_bench`-style loop at batch 1024 on a 2-core AMD EPYC, alternating: 1.01–1.35
    /// ms a step in one pass, 0.82–0.98 ms as two parts. A GPU runs one pass: its kernels
    /// already cover the batch.
    pub(crate) fn part_rows(&self) -> Option<usize> {
        part_rows(self.kind)
    }

    /// Where the optimizer's element-wise update runs: on the CPU backends the tensors already
    /// live in host memory, and one host loop per parameter beats Adam's thirteen tensor
    /// operations (docs/PERFORMANCE.md); a GPU keeps Burn's device-side update.
    pub(crate) fn update_path(&self) -> UpdatePath {
        if self.kind.is_cpu() {
            UpdatePath::Host
        } else {
            UpdatePath::Tensor
        }
    }
}

/// The ndarray device. Deprecated in Burn 0.22 but the backend the original design named; this
/// is the one place that names it.
#[allow(deprecated)]
pub(crate) fn ndarray_device() -> Device {
    Device::ndarray()
}

/// Runs a tiny computation on `device`, turning a panic inside the backend (no adapter, driver
/// failure) into `None`, so the user gets a message instead of a backtrace.
pub(crate) fn probe(device: &Device) -> Option<()> {
    let device = device.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ok = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::ones([4], &device).sum();
        t.into_data()
            .try_to_vec::<f32>()
            .ok()
            .filter(|v| v[0] == 4.0)
    });
    std::panic::set_hook(hook);
    ok.ok().flatten().map(|_| ())
}

/// The wgpu adapters this machine offers, each as a device and a description. Empty when the
/// wgpu backend is not compiled in or no adapter is found.
pub(crate) fn wgpu_adapters() -> Vec<(Device, String)> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceType;
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let found = std::panic::catch_unwind(|| {
            Device::enumerate(DeviceType::Wgpu)
                .into_iter()
                .map(|d| {
                    let name = d
                        .identity()
                        .map(|i| i.name)
                        .unwrap_or_else(|| "unnamed adapter".into());
                    let (words, key) = adapter_kind(&format!("{d:?}"));
                    let s = format!("{name} ({words}; backend.device = \"{key}\")");
                    (d, s)
                })
                .collect::<Vec<_>>()
        });
        std::panic::set_hook(hook);
        found.unwrap_or_default()
    }
    #[cfg(not(feature = "wgpu"))]
    Vec::new()
}

/// A wgpu device's kind in words, and the `backend.device` value that picks it, from the
/// device's debug text (`DiscreteGpu(0)`, `Cpu`, ...), which is all Burn exposes of it.
fn adapter_kind(debug: &str) -> (&'static str, String) {
    for (tag, words, key) in [
        ("DiscreteGpu(", "discrete GPU", "discrete"),
        ("IntegratedGpu(", "integrated GPU", "integrated"),
        ("VirtualGpu(", "virtual GPU", "virtual"),
    ] {
        if let Some(rest) = debug.split(tag).nth(1) {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return (words, format!("{key}:{n}"));
        }
    }
    if debug.contains("Cpu") {
        return (SOFTWARE, "cpu".into());
    }
    ("adapter", "default".into())
}

/// Whether an adapter's name is one of the software renderers (Mesa's llvmpipe/lavapipe,
/// SwiftShader, Windows' WARP): the device wgpu opens for `device = "default"` is known by its
/// name only.
fn is_software_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "llvmpipe",
        "lavapipe",
        "swiftshader",
        "basic render",
        "warp",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// How a software adapter (Mesa's llvmpipe/lavapipe) is described.
const SOFTWARE: &str = "software renderer on the CPU, no GPU";

/// What the user should hear about where `selected` runs, once, beside the backend line: a
/// wgpu software adapter is a real wgpu device, but runs on the CPU many times slower than flex
/// (it is there to test the GPU path on machines without one).
fn speed_warning(selected: &Selected) -> Option<String> {
    selected.software.then(|| {
        "wgpu found no GPU, only a software renderer that runs on the CPU: expect it to be many \
         times slower than backend.kind = \"flex\" (\"auto\" prefers a real GPU, then flex)"
            .to_string()
    })
}

/// The `backend:` line a command prints once it has its device, with the warning for a
/// software adapter and the note about the graphics library's stray lines where they apply.
pub(crate) fn announce(selected: &Selected) {
    say!("backend: {}", selected.description);
    if let Some(w) = speed_warning(selected) {
        say!("warning: {w}");
    }
    if selected.kind == BackendKind::Wgpu {
        if let Some(note) = display_note() {
            say!("note: {note}");
        }
    }
}

/// One line about the graphics library's own `XDG_RUNTIME_DIR is invalid…` lines, which
/// it prints while looking for a display when none is set up (a server, a container): they are
/// not burnfit's, and harmless, and the user should not have to find that out.
fn display_note() -> Option<&'static str> {
    (cfg!(feature = "wgpu") && std::env::var_os("XDG_RUNTIME_DIR").is_none()).then_some(
        "any lines above about XDG_RUNTIME_DIR come from the graphics library looking for a \
         display; burnfit needs none, and they are harmless",
    )
}

fn available_summary() -> String {
    let mut parts: Vec<String> = vec!["flex".into(), "ndarray".into()];
    let adapters = wgpu_adapters();
    if cfg!(feature = "wgpu") {
        if adapters.is_empty() {
            parts.push("wgpu (compiled in, but no adapter found: install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers)".into());
        } else {
            parts.push(format!(
                "wgpu ({})",
                adapters
                    .iter()
                    .map(|(_, s)| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    parts.join(", ")
}

#[cfg(feature = "wgpu")]
fn wgpu_kind(device: &str) -> Result<burn::tensor::DeviceKind, BackendError> {
    use burn::tensor::DeviceKind;
    let (name, index) = match device.split_once(':') {
        Some((n, i)) => (
            n,
            i.parse::<usize>()
                .map_err(|_| BackendError::BadDevice(device.into()))?,
        ),
        None => (device, 0),
    };
    Ok(match name {
        "default" => DeviceKind::DefaultDevice,
        "discrete" => DeviceKind::DiscreteGpu(index),
        "integrated" => DeviceKind::IntegratedGpu(index),
        "virtual" => DeviceKind::VirtualGpu(index),
        "cpu" => DeviceKind::Cpu,
        _ => return Err(BackendError::BadDevice(device.into())),
    })
}

/// `flex` and the instructions its matrix products run on here, for logs and `summary.json`.
///
/// gemm takes its AVX-512 kernels where the CPU has AVX-512 and its AVX2 ones elsewhere
/// (Burn's `x86-v4` feature), and the two add a dot product's terms in different orders, so
/// runs on two machines can differ in their last digits: the summary says which ran.
fn flex_name() -> String {
    #[cfg(target_arch = "x86_64")]
    let products = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if std::arch::is_x86_feature_detected!("fma") {
        "AVX2"
    } else {
        "scalar"
    };
    #[cfg(target_arch = "aarch64")]
    let products = "NEON";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let products = "scalar";
    format!("flex, {products} products")
}

/// Resolves `[backend]` to a working device.
// Long because flat: one short arm per backend kind, each behind its own cargo feature.
pub(crate) fn select(config: &BackendConfig) -> Result<Selected, BackendError> {
    let cpu = |kind: BackendKind, device: Device, what: &str| Selected {
        device,
        kind,
        description: format!("{what} (CPU)"),
        software: false,
    };
    match config.kind {
        BackendKind::Flex => Ok(cpu(BackendKind::Flex, Device::flex(), &flex_name())),
        BackendKind::Ndarray => Ok(cpu(BackendKind::Ndarray, ndarray_device(), "ndarray")),
        BackendKind::Auto => {
            // A real GPU only: a software adapter (lavapipe) is slower than flex.
            #[cfg(feature = "wgpu")]
            for (device, description) in wgpu_adapters() {
                let is_gpu = !format!("{device:?}").contains("Cpu");
                if is_gpu && probe(&device).is_some() {
                    return Ok(Selected {
                        device,
                        kind: BackendKind::Wgpu,
                        description: format!("wgpu: {description}"),
                        software: false,
                    });
                }
            }
            Ok(cpu(
                BackendKind::Flex,
                Device::flex(),
                &format!("{}, chosen by auto: no GPU adapter found", flex_name()),
            ))
        }
        BackendKind::Wgpu => {
            #[cfg(feature = "wgpu")]
            {
                let kind = wgpu_kind(&config.device)?;
                let adapters = wgpu_adapters();
                if adapters.is_empty() {
                    return Err(BackendError::Unavailable {
                        kind: BackendKind::Wgpu,
                        reason:
                            "no wgpu adapter found (no GPU driver and no software Vulkan driver)"
                                .into(),
                        available: available_summary(),
                    });
                }
                let device = Device::wgpu(kind);
                if probe(&device).is_none() {
                    return Err(BackendError::Unavailable {
                        kind: BackendKind::Wgpu,
                        reason: format!("no adapter matches backend.device = `{}`", config.device),
                        available: available_summary(),
                    });
                }
                // `device = "default"` names no enumerated adapter; ask the device which one wgpu
                // opened for it (after the probe, so it is open).
                let description = adapters
                    .iter()
                    .find(|(d, _)| *d == device)
                    .map(|(_, s)| s.clone())
                    .or_else(|| {
                        device.identity().map(|i| {
                            if is_software_name(&i.name) {
                                format!("{} ({SOFTWARE}; default adapter)", i.name)
                            } else {
                                format!("{} (default adapter)", i.name)
                            }
                        })
                    })
                    .unwrap_or_else(|| format!("{device:?}"));
                let software = format!("{device:?}").contains("Cpu")
                    || device.identity().is_some_and(|i| is_software_name(&i.name));
                Ok(Selected {
                    device,
                    kind: BackendKind::Wgpu,
                    description: format!("wgpu: {description}"),
                    software,
                })
            }
            #[cfg(not(feature = "wgpu"))]
            Err(BackendError::NotCompiled {
                kind: BackendKind::Wgpu,
                available: compiled().join(", "),
            })
        }
        BackendKind::Vulkan => {
            #[cfg(feature = "vulkan")]
            {
                let device = Device::vulkan(wgpu_kind(&config.device)?);
                if probe(&device).is_none() {
                    return Err(BackendError::Unavailable {
                        kind: BackendKind::Vulkan,
                        reason: "no Vulkan adapter found".into(),
                        available: available_summary(),
                    });
                }
                Ok(Selected {
                    device,
                    kind: BackendKind::Vulkan,
                    description: "vulkan".into(),
                    software: false,
                })
            }
            #[cfg(not(feature = "vulkan"))]
            Err(BackendError::NotCompiled {
                kind: BackendKind::Vulkan,
                available: compiled().join(", "),
            })
        }
        BackendKind::Cuda => {
            #[cfg(feature = "cuda")]
            {
                let index = match config.device.as_str() {
                    "default" => 0,
                    s => s
                        .parse::<usize>()
                        .map_err(|_| BackendError::BadDevice(s.into()))?,
                };
                let device = Device::cuda(index);
                if probe(&device).is_none() {
                    return Err(BackendError::Unavailable {
                        kind: BackendKind::Cuda,
                        reason: format!("CUDA device {index} is not available"),
                        available: available_summary(),
                    });
                }
                Ok(Selected {
                    device,
                    kind: BackendKind::Cuda,
                    description: format!("cuda:{index}"),
                    software: false,
                })
            }
            #[cfg(not(feature = "cuda"))]
            Err(BackendError::NotCompiled {
                kind: BackendKind::Cuda,
                available: compiled().join(", "),
            })
        }
    }
}

/// The text of `burnfit devices`.
pub(crate) fn describe_devices() -> String {
    let mut out = format!("backends compiled in: {}\n", compiled().join(", "));
    out.push_str(
        "flex: CPU (always available)\nndarray: CPU (always available; deprecated in Burn 0.22)\n",
    );
    if cfg!(feature = "wgpu") {
        let adapters = wgpu_adapters();
        if adapters.is_empty() {
            out.push_str("wgpu: no adapter found (install a GPU driver, or Debian's mesa-vulkan-drivers for the lavapipe software adapter)\n");
        }
        for (_, d) in adapters {
            out.push_str(&format!("wgpu adapter: {d}\n"));
        }
        if let Some(note) = display_note() {
            out.push_str(&format!("note: {note}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(kind: BackendKind) -> Selected {
        Selected {
            device: Device::flex(),
            kind,
            description: String::new(),
            software: false,
        }
    }

    /// Flex trains batches of over 512 rows as parts, and keeps the pool spinning then, or when
    /// a part's own products are split (a wide layer); a GPU and ndarray take a batch whole.
    #[test]
    fn flex_trains_large_batches_as_parts_on_a_busy_pool() {
        let seed = MlpConfig::new(100);
        let flex = selected(BackendKind::Flex);
        assert_eq!(flex.part_rows(), Some(512));
        assert!(!flex.keeps_pool_busy(&seed, 32));
        assert!(!flex.keeps_pool_busy(&seed, 512));
        assert!(flex.keeps_pool_busy(&seed, 513));
        assert!(flex.keeps_pool_busy(&seed, 1024));
        // 512 × 100 × 1024 multiply-adds: split inside one part.
        assert!(flex.keeps_pool_busy(&MlpConfig::new(100).with_hidden(vec![1024]), 512));
        let ndarray = selected(BackendKind::Ndarray);
        assert_eq!(ndarray.part_rows(), None);
        assert!(!ndarray.keeps_pool_busy(&seed, 4096));
    }

    /// The summary names the instructions flex's products ran on, since results differ in
    /// their last digits between gemm's AVX-512 and AVX2 kernels.
    #[test]
    fn flex_names_the_instructions_of_its_products() {
        let config = BackendConfig {
            kind: BackendKind::Flex,
            ..BackendConfig::default()
        };
        let name = select(&config).unwrap().description;
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f");
            assert_eq!(name.contains("AVX-512 products"), avx512, "{name}");
            assert_eq!(name.contains("AVX2 products"), !avx512, "{name}");
        }
        assert!(
            name.starts_with("flex, ") && name.ends_with(" (CPU)"),
            "{name}"
        );
    }

    /// The seed network's largest product, 100 × 128 weights, reaches flex's 192³ between
    /// batch 512 (6.6M multiply-adds) and 1024 (13.1M).
    #[test]
    fn flex_splits_the_seed_products_from_batch_553() {
        let seed = MlpConfig::new(100);
        let flex = selected(BackendKind::Flex);
        assert!(!flex.splits_products(&seed, 32));
        assert!(!flex.splits_products(&seed, 552));
        assert!(flex.splits_products(&seed, 553));
        assert!(flex.splits_products(&seed, 1024));
        assert!(!selected(BackendKind::Ndarray).splits_products(&seed, 1024));
    }
}
