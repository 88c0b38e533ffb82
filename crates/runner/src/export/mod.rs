//! Models that leave burnfit: ONNX (the preprocessing inside the graph, [`onnx`]) and
//! safetensors (PyTorch `nn.Sequential` names, the preprocessing in the metadata). The reverse,
//! weights from such a file to start training from, is [`crate::init_from`].

pub(crate) mod onnx;

use std::collections::HashMap;

use anyhow::Result;
use burn::tensor::Tensor;
use burnfit_model::{Activation, Loss, Mlp};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

use crate::data::preprocess::FeatureSpec;
use crate::data::Preprocessor;

/// One dense layer's parameters on the host.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// `[input, output]`, row-major (Burn's layout; PyTorch's is the transpose).
    pub(crate) weight: Vec<f32>,
    /// `[output]`.
    pub(crate) bias: Vec<f32>,
    /// Inputs.
    pub(crate) input: usize,
    /// Outputs.
    pub(crate) output: usize,
}

/// A trained model and everything `predict` applies around it.
pub(crate) struct Exported<'a> {
    /// The fitted preprocessing.
    pub(crate) pre: &'a Preprocessor,
    /// The dense layers, input first.
    pub(crate) layers: Vec<Layer>,
    /// Between layers.
    pub(crate) activation: Activation,
    /// Fixes the head.
    pub(crate) loss: Loss,
    /// A label is 1 above its probability here: one for every label, or one per label.
    pub(crate) thresholds: Vec<f64>,
    /// The label columns of several (multi-label or multi-output), in output order; empty for
    /// one label column.
    pub(crate) labels: Vec<String>,
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 weights")
}

impl<'a> Exported<'a> {
    /// Reads the layers of `model` back to the host; `file` gives the head and the thresholds.
    pub(crate) fn new(model: &Mlp, pre: &'a Preprocessor, file: &crate::run::ModelFile) -> Self {
        let layers = model
            .layers
            .iter()
            .map(|l| {
                let [input, output] = l.weight.val().dims();
                let bias = match &l.bias {
                    Some(b) => b
                        .val()
                        .into_data()
                        .convert::<f32>()
                        .try_to_vec::<f32>()
                        .expect("f32 bias"),
                    None => vec![0.0; output],
                };
                Layer {
                    weight: host(l.weight.val()),
                    bias,
                    input,
                    output,
                }
            })
            .collect();
        Self {
            pre,
            layers,
            activation: model.activation,
            loss: file.loss,
            thresholds: file.thresholds(),
            labels: file.labels.clone(),
        }
    }

    /// The inputs in order, with their encoding, as the metadata's `burnfit.inputs` lists them.
    fn inputs_json(&self) -> serde_json::Value {
        self.pre
            .features
            .iter()
            .map(|f| match f {
                FeatureSpec::Numeric { name, .. } => {
                    serde_json::json!({"name": name, "kind": "numeric"})
                }
                FeatureSpec::Categorical { name, levels } => {
                    serde_json::json!({"name": name, "kind": "categorical", "levels": levels})
                }
            })
            .collect()
    }

    /// Key-value metadata common to both formats.
    pub(crate) fn metadata(&self) -> Vec<(String, String)> {
        let mut m = vec![
            ("burnfit.version".into(), env!("CARGO_PKG_VERSION").into()),
            ("burnfit.inputs".into(), self.inputs_json().to_string()),
            (
                "burnfit.preprocess".into(),
                serde_json::to_string(self.pre).expect("preprocessing encodes"),
            ),
            ("burnfit.loss".into(), self.loss.key().into()),
            (
                "burnfit.activation".into(),
                format!("{:?}", self.activation).to_lowercase(),
            ),
        ];
        // One threshold for every label; several are `burnfit.thresholds`, one per label.
        if self.loss == Loss::Bce && self.thresholds.len() == 1 {
            m.push(("burnfit.threshold".into(), self.thresholds[0].to_string()));
        }
        if self.thresholds.len() > 1 {
            m.push((
                "burnfit.thresholds".into(),
                serde_json::to_string(&self.thresholds).expect("numbers encode"),
            ));
        }
        if !self.labels.is_empty() {
            m.push((
                "burnfit.labels".into(),
                serde_json::to_string(&self.labels).expect("strings encode"),
            ));
        }
        if let crate::data::LabelMap::Classes { classes } = &self.pre.labels {
            m.push((
                "burnfit.classes".into(),
                serde_json::to_string(classes).expect("strings encode"),
            ));
        }
        m
    }

    /// The weights as safetensors: PyTorch's `nn.Sequential` names (`0.weight` `[out, in]`,
    /// `0.bias`, then `2.…` past the activation), with the preprocessing, the layer list and the
    /// threshold in the metadata.
    pub(crate) fn safetensors(&self) -> Result<Vec<u8>> {
        let mut names = Vec::new();
        let mut data: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        let mut sequential = Vec::new();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let k = 2 * i;
            // PyTorch's Linear stores [out, in].
            let mut t = vec![0f32; l.weight.len()];
            for r in 0..l.input {
                for c in 0..l.output {
                    t[c * l.input + r] = l.weight[r * l.output + c];
                }
            }
            data.push((format!("{k}.weight"), bytes(&t), vec![l.output, l.input]));
            data.push((format!("{k}.bias"), bytes(&l.bias), vec![l.output]));
            names.push(k);
            sequential.push(format!("Linear({}, {})", l.input, l.output));
            if i < last {
                sequential.push(torch_activation(self.activation).into());
            }
        }
        if self.loss == Loss::Bce {
            sequential.push("Sigmoid()".into());
        }
        let views = data
            .iter()
            .map(|(n, b, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| anyhow::anyhow!("safetensors: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta: HashMap<String, String> = self.metadata().into_iter().collect();
        meta.insert("format".into(), "pt".into());
        meta.insert(
            "burnfit.sequential".into(),
            serde_json::to_string(&sequential).expect("strings encode"),
        );
        safetensors::serialize(views, Some(meta)).map_err(|e| anyhow::anyhow!("safetensors: {e}"))
    }
}

fn torch_activation(a: Activation) -> &'static str {
    match a {
        Activation::Relu => "ReLU()",
        Activation::Tanh => "Tanh()",
        Activation::Gelu => "GELU()",
        Activation::Sigmoid => "Sigmoid()",
    }
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
