//! The dense network: `input -> [Dense + activation]* -> Dense`, logits out.
//!
//! The seed is Keras's `Dense(128, relu, input 100) -> Dense(64, relu) -> Dense(1, sigmoid)`. We
//! keep the sigmoid out of `forward` so that the loss can work on logits (stable for any value) and
//! apply it only in [`Mlp::predict`].

use burn::module::{Module, Param, ParamId};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The non-linearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, x)`, the seed's choice.
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Gaussian error linear unit.
    Gelu,
    /// Logistic sigmoid.
    Sigmoid,
}

impl Activation {
    pub(crate) fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Sigmoid => activation::sigmoid(x),
        }
    }

    /// The name Keras prints in a summary.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

/// How weights are drawn before training; biases always start at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))`: Keras's default, and the seed's.
    #[default]
    GlorotUniform,
    /// `U(-l, l)`, `l = sqrt(1 / fan_in)`: PyTorch's `nn.Linear` default.
    KaimingUniform,
}

impl Init {
    fn limit(self, fan_in: usize, fan_out: usize) -> f64 {
        match self {
            Init::GlorotUniform => (6.0 / (fan_in + fan_out) as f64).sqrt(),
            Init::KaimingUniform => (1.0 / fan_in as f64).sqrt(),
        }
    }
}

/// The shape and initialisation of a [`Mlp`].
///
/// Plain data (serde), so the runner can save it beside the weights and rebuild exactly the
/// trained network from a run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Number of input features.
    pub input: usize,
    /// Width of each hidden layer, in order.
    #[serde(default = "MlpConfig::default_hidden")]
    pub hidden: Vec<usize>,
    /// Number of outputs (1 for binary classification or scalar regression).
    #[serde(default = "MlpConfig::default_output")]
    pub output: usize,
    /// Non-linearity after each hidden layer.
    #[serde(default)]
    pub activation: Activation,
    /// Weight initialisation.
    #[serde(default)]
    pub init: Init,
}

impl MlpConfig {
    /// The seed's hidden widths.
    pub fn default_hidden() -> Vec<usize> {
        vec![128, 64]
    }

    fn default_output() -> usize {
        1
    }

    /// A network with the seed's defaults for `input` features: hidden `[128, 64]`, ReLU, one
    /// output, Glorot-uniform weights.
    pub fn new(input: usize) -> Self {
        Self {
            input,
            hidden: Self::default_hidden(),
            output: 1,
            activation: Activation::Relu,
            init: Init::GlorotUniform,
        }
    }

    /// Sets the hidden widths.
    pub fn with_hidden(mut self, hidden: Vec<usize>) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets the number of outputs: k for a k-class softmax, k labels or k targets.
    pub fn with_output(mut self, output: usize) -> Self {
        self.output = output;
        self
    }

    /// Sets the weight initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the hidden activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Checks the widths, so that a bad setting fails here and not inside a matmul.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input == 0 {
            return Err(ModelError::InvalidSetting {
                key: "input",
                reason: "the network needs at least one input feature".into(),
            });
        }
        if self.output == 0 {
            return Err(ModelError::InvalidSetting {
                key: "output",
                reason: "the network needs at least one output".into(),
            });
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(ModelError::InvalidSetting {
                key: "hidden",
                reason: format!(
                    "layer {} has width 0; every hidden layer needs width >= 1",
                    i + 1
                ),
            });
        }
        Ok(())
    }

    /// `(fan_in, fan_out)` of every dense layer, input to output.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut widths = Vec::with_capacity(self.hidden.len() + 2);
        widths.push(self.input);
        widths.extend_from_slice(&self.hidden);
        widths.push(self.output);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Number of trainable parameters, computed from the shape alone (`fan_in * fan_out +
    /// fan_out` per layer): 21,249 for the seed's 100-128-64-1. Saturates at `usize::MAX`:
    /// widths come from the user, and a count that large is only ever compared with the
    /// memory there is (and refused), so it must not overflow on the way.
    pub fn num_params(&self) -> usize {
        self.layer_shapes()
            .iter()
            .map(|&(i, o)| layer_params(i, o))
            .fold(0, usize::saturating_add)
    }

    /// Builds the network on `device`.
    ///
    /// Weights are drawn on the host from a generator seeded with `seed`, so the same seed gives
    /// the same initial network on every backend (Burn's device RNGs differ between backends).
    pub fn init(&self, device: &Device, seed: u64) -> Result<Mlp, ModelError> {
        self.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = self
            .layer_shapes()
            .into_iter()
            .enumerate()
            .map(|(i, (fan_in, fan_out))| {
                let limit = self.init.limit(fan_in, fan_out);
                let weights: Vec<f32> = (0..fan_in * fan_out)
                    .map(|_| rng.random_range(-limit..limit) as f32)
                    .collect();
                let weight =
                    Tensor::<2>::from_data(TensorData::new(weights, [fan_in, fan_out]), device);
                let bias = Tensor::<1>::zeros([fan_out], device);
                // Fixed parameter ids (Burn draws random ones) make the saved weights
                // byte-identical for one seed, and let a checkpoint's optimizer state, which is
                // keyed by id, find its parameters in a freshly built network on resume.
                let mut weight = Param::from_tensor(weight);
                weight.id = ParamId::from(2 * i as u64 + 1);
                let mut bias = Param::from_tensor(bias);
                bias.id = ParamId::from(2 * i as u64 + 2);
                Linear {
                    weight,
                    bias: Some(bias),
                }
            })
            .collect();
        Ok(Mlp {
            layers,
            activation: self.activation,
        })
    }

    /// A Keras-style table: layer, output shape, parameters, and the total. `head` names the
    /// output's activation (`sigmoid` for BCE, `linear` for MSE: see `Loss::head`), which the
    /// network itself does not apply.
    pub fn summary(&self, head: &str) -> String {
        let shapes = self.layer_shapes();
        let mut out = String::new();
        let rule = "─".repeat(60);
        out.push_str(&format!(
            "{:<30}{:<18}{:>12}\n{rule}\n",
            "Layer (type)", "Output Shape", "Param #"
        ));
        for (i, (fan_in, fan_out)) in shapes.iter().enumerate() {
            let act = if i + 1 == shapes.len() {
                head
            } else {
                self.activation.name()
            };
            out.push_str(&format!(
                "{:<30}{:<18}{:>12}\n",
                format!("dense_{i} (Dense, {act})"),
                format!("(None, {fan_out})"),
                group_thousands(layer_params(*fan_in, *fan_out)),
            ));
        }
        out.push_str(&format!(
            "{rule}\nTotal params: {}\n",
            group_thousands(self.num_params())
        ));
        out
    }
}

/// A dense layer's weights and biases, saturating (see [`MlpConfig::num_params`]).
fn layer_params(fan_in: usize, fan_out: usize) -> usize {
    fan_in.saturating_mul(fan_out).saturating_add(fan_out)
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A stack of dense layers with a non-linearity between them; the last layer is linear.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Dense layers, input to output.
    pub layers: Vec<Linear>,
    /// Non-linearity after every layer but the last.
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    /// Logits (pre-sigmoid outputs).
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = input; // [batch, input]
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x); // [batch, width_i]
            if i < last {
                x = self.activation.apply(x);
            }
        }
        x
    }

    /// Like [`forward`](Self::forward), but checks the input width first and says what is wrong
    /// instead of panicking inside the matmul.
    pub fn try_forward(&self, input: Tensor<2>) -> Result<Tensor<2>, ModelError> {
        let expected = self.input_width();
        let got = input.dims()[1];
        if got != expected {
            return Err(ModelError::InputWidth { expected, got });
        }
        Ok(self.forward(input))
    }

    /// What the user sees: the network's outputs through `loss`'s head, probabilities for BCE
    /// (the seed's last `Dense(1, sigmoid)`), the values themselves for MSE.
    ///
    /// # Shapes
    /// - input: `[batch, input]`
    /// - output: `[batch, output]`
    pub fn predict(&self, input: Tensor<2>, loss: crate::Loss) -> Tensor<2> {
        loss.activate(self.forward(input))
    }

    /// The number of outputs the last layer gives (k for a k-class softmax).
    pub fn output_width(&self) -> usize {
        self.layers[self.layers.len() - 1].weight.val().dims()[1]
    }

    /// The number of input features the first layer takes.
    pub fn input_width(&self) -> usize {
        self.layers[0].weight.val().dims()[0]
    }

    /// The same network (same parameter ids, same values, sharing their buffers) whose
    /// parameters are new leaves of the autodiff graph.
    ///
    /// Burn's autodiff keeps one graph, behind one lock, for every operation connected to the
    /// same leaves, and holds that lock through a whole backward pass. Passes over separate
    /// replicas are separate graphs, so several threads can run forward and backward over
    /// parts of one batch at once ([`Mlp::sum_gradients`] then adds their gradients).
    pub fn replica(&self) -> Mlp {
        let leaf = |p: &Param<Tensor<1>>| Param::initialized(p.id, p.val().detach().require_grad());
        Mlp {
            layers: self
                .layers
                .iter()
                .map(|l| Linear {
                    weight: Param::initialized(l.weight.id, l.weight.val().detach().require_grad()),
                    bias: l.bias.as_ref().map(leaf),
                })
                .collect(),
            activation: self.activation,
        }
    }

    /// The gradients of a sum of losses from the gradients of each, added in the order given,
    /// so the result does not depend on which part finished first.
    ///
    /// A parameter missing from every part is missing from the result, as it would be from
    /// one backward pass that did not reach it.
    pub fn sum_gradients(&self, parts: Vec<GradientsParams>) -> GradientsParams {
        fn add<const D: usize>(
            id: ParamId,
            parts: &mut [GradientsParams],
            sum: &mut GradientsParams,
        ) {
            let total = parts
                .iter_mut()
                .filter_map(|g| g.remove::<D>(id))
                .reduce(|a, b| a + b);
            if let Some(total) = total {
                sum.register(id, total);
            }
        }
        let mut parts = parts;
        if parts.len() == 1 {
            return parts.pop().expect("one part");
        }
        let mut sum = GradientsParams::new();
        for layer in &self.layers {
            add::<2>(layer.weight.id, &mut parts, &mut sum);
            if let Some(bias) = &layer.bias {
                add::<1>(bias.id, &mut parts, &mut sum);
            }
        }
        sum
    }
}
