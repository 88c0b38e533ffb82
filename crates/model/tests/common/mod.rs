//! Shared helpers: the CPU backends every model test runs on, and tensor <-> Vec conversions.

#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};

/// Every CPU backend compiled into this build, by name.
///
/// ndarray is deprecated in Burn 0.22 but still the backend the original design named, so it
/// stays under test; this is the one place that names it.
#[allow(deprecated)]
pub fn cpu_devices() -> Vec<(&'static str, Device)> {
    vec![("flex", Device::flex()), ("ndarray", Device::ndarray())]
}

pub fn tensor2(values: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

pub fn scalar(t: Tensor<1>) -> f64 {
    to_vec(t)[0] as f64
}

/// `|a - b| <= atol + rtol * |b|`, with a message that names the index.
pub fn assert_close(actual: &[f64], expected: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= atol + rtol * e.abs(),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}
