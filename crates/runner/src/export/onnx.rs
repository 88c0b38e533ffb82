//! The model and its preprocessing as one ONNX graph (opset 17), built with `onnx-protobuf`'s
//! message types.
//!
//! Input `features`: float32 `[batch, columns]`, the trained source columns in
//! `preprocess.json`'s order (listed in the metadata key `burnfit.inputs`). A numeric column
//! takes its raw value, NaN where the cell is missing; a categorical column takes the index of
//! its value among the column's training levels (listed there too), and -1 (or any other
//! number) for a value never seen in training or missing, which one-hot encodes as all zeros,
//! as `predict` does. The graph then does what `predict` does after reading the CSV: the
//! missing-value fill, the scaling (in float64, as `predict` computes it), the one-hot, the
//! network, and for a classifier the sigmoid and the class at the saved threshold.

use burnfit_model::{Activation, Loss};
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};

use super::{Exported, Layer};
use crate::data::preprocess::FeatureSpec;
use crate::data::Preprocessor;

/// The operator set the graph is written for.
pub(crate) const OPSET: i64 = 17;

/// A graph under construction: nodes, constants, and fresh value names.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    next: usize,
}

impl Builder {
    fn name(&mut self, stem: &str) -> String {
        self.next += 1;
        format!("{stem}_{}", self.next)
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.name(&op.to_lowercase());
        self.node_to(op, inputs, attrs, &out);
        out
    }

    fn node_to(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>, out: &str) {
        let name = self.name(op);
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name,
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            attribute: attrs,
            ..Default::default()
        });
    }

    fn constant(
        &mut self,
        stem: &str,
        dims: &[i64],
        fill: impl FnOnce(&mut TensorProto),
    ) -> String {
        let name = self.name(stem);
        let mut t = TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            ..Default::default()
        };
        fill(&mut t);
        self.initializers.push(t);
        name
    }

    fn f32s(&mut self, stem: &str, dims: &[i64], values: Vec<f32>) -> String {
        self.constant(stem, dims, |t| {
            t.data_type = DataType::FLOAT as i32;
            t.float_data = values;
        })
    }

    fn f64s(&mut self, stem: &str, dims: &[i64], values: Vec<f64>) -> String {
        self.constant(stem, dims, |t| {
            t.data_type = DataType::DOUBLE as i32;
            t.double_data = values;
        })
    }

    fn i64s(&mut self, stem: &str, dims: &[i64], values: Vec<i64>) -> String {
        self.constant(stem, dims, |t| {
            t.data_type = DataType::INT64 as i32;
            t.int64_data = values;
        })
    }

    fn cast(&mut self, input: &str, to: DataType) -> String {
        self.node("Cast", &[input], vec![int_attr("to", to as i64)])
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: EnumOrUnknown::new(AttributeType::INT),
        i: v,
        ..Default::default()
    }
}

fn value_info(name: &str, elem: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        type_: MessageField::some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: MessageField::some(TensorShapeProto {
                    dim,
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model's bytes: the preprocessing, the dense layers and the head, node by node in
/// that order, then the model around the graph.
pub(crate) fn model(e: &Exported) -> Vec<u8> {
    let mut b = Builder::default();
    let columns = e.pre.features.len() as i64;
    let prepared = preprocessing(&mut b, e.pre);
    let h = dense(&mut b, e, &prepared);
    let outputs = head(&mut b, e, &h);
    let graph = GraphProto {
        name: "burnfit".into(),
        node: b.nodes,
        initializer: b.initializers,
        input: vec![value_info("features", DataType::FLOAT, &[None, Some(columns)])],
        output: outputs,
        doc_string: "Input `features`: float32 [batch, columns] in the order of metadata `burnfit.inputs`; numeric columns raw (NaN = missing), categorical columns as the index of the value among that column's `levels` (-1 = missing or unseen).".into(),
        ..Default::default()
    };
    let meta = e
        .metadata()
        .into_iter()
        .map(|(key, value)| StringStringEntryProto {
            key,
            value,
            ..Default::default()
        })
        .collect();
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
            ..Default::default()
        }],
        producer_name: "burnfit".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: MessageField::some(graph),
        metadata_props: meta,
        ..Default::default()
    };
    model.write_to_bytes().expect("an ONNX model encodes")
}

/// The preprocessing as nodes: each column filled, shifted and scaled as `preprocess.json`
/// says, categorical columns one-hot; returns the name of the network's input, `[batch, width]`.
fn preprocessing(b: &mut Builder, pre: &Preprocessor) -> String {
    let columns = pre.features.len() as i64;
    // Per-column fill, shift and scale; categorical columns pass through with NaN as -1.
    let (mut fill, mut shift, mut scale) = (Vec::new(), Vec::new(), Vec::new());
    for f in &pre.features {
        match f {
            FeatureSpec::Numeric {
                fill: fv,
                shift: s,
                scale: c,
                ..
            } => {
                fill.push(*fv);
                shift.push(*s);
                scale.push(*c);
            }
            FeatureSpec::Categorical { .. } => {
                fill.push(-1.0);
                shift.push(0.0);
                scale.push(1.0);
            }
        }
    }
    let x64 = b.cast("features", DataType::DOUBLE);
    let missing = b.node("IsNaN", &[&x64], vec![]);
    let fill = b.f64s("fill", &[columns], fill);
    let filled = b.node("Where", &[&missing, &fill, &x64], vec![]);
    let shift = b.f64s("shift", &[columns], shift);
    let shifted = b.node("Sub", &[&filled, &shift], vec![]);
    let scale = b.f64s("scale", &[columns], scale);
    let scaled = b.node("Div", &[&shifted, &scale], vec![]);
    let prepared = b.cast(&scaled, DataType::FLOAT);
    let mut pieces = Vec::new();
    for (j, f) in pre.features.iter().enumerate() {
        let index = b.i64s("column", &[1], vec![j as i64]);
        let column = b.node("Gather", &[&prepared, &index], vec![int_attr("axis", 1)]); // [batch, 1]
        match f {
            FeatureSpec::Numeric { .. } => pieces.push(column),
            FeatureSpec::Categorical { levels, .. } => {
                let codes = b.cast(&column, DataType::INT64);
                let range = b.i64s(
                    "levels",
                    &[1, levels.len() as i64],
                    (0..levels.len() as i64).collect(),
                );
                let hot = b.node("Equal", &[&codes, &range], vec![]); // [batch, levels]
                pieces.push(b.cast(&hot, DataType::FLOAT));
            }
        }
    }
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    b.node("Concat", &refs, vec![int_attr("axis", 1)])
}

/// The dense layers on `input`, each but the last followed by the activation; returns the
/// name of the network's output.
fn dense(b: &mut Builder, e: &Exported, input: &str) -> String {
    let mut h = input.to_string();
    let last = e.layers.len() - 1;
    for (
        i,
        Layer {
            weight,
            bias,
            input,
            output,
        },
    ) in e.layers.iter().enumerate()
    {
        let w = b.f32s(
            &format!("dense{i}_weight"),
            &[*input as i64, *output as i64],
            weight.clone(),
        );
        let bias = b.f32s(&format!("dense{i}_bias"), &[*output as i64], bias.clone());
        let product = b.node("MatMul", &[&h, &w], vec![]);
        h = b.node("Add", &[&product, &bias], vec![]);
        if i < last {
            h = activation(b, &h, e.activation);
        }
    }
    h
}

/// The outputs: a classifier's probability, class and logit, a k-class softmax's probabilities,
/// class and logits, or a regression's prediction; each `[N, k]` for k label columns (a
/// label's class 1 above its own threshold).
fn head(b: &mut Builder, e: &Exported, h: &str) -> Vec<ValueInfoProto> {
    let k = e.layers[e.layers.len() - 1].output as i64;
    match e.loss {
        Loss::Bce => {
            b.node_to("Identity", &[h], vec![], "logit");
            let z64 = b.cast(h, DataType::DOUBLE);
            let p64 = b.node("Sigmoid", &[&z64], vec![]);
            b.nodes.push(NodeProto {
                op_type: "Cast".into(),
                name: "probability_cast".into(),
                input: vec![p64.clone()],
                output: vec!["probability".into()],
                attribute: vec![int_attr("to", DataType::FLOAT as i64)],
                ..Default::default()
            });
            // One threshold for all, or one per label (broadcast along the last axis).
            let t = match &e.thresholds[..] {
                [one] => b.f64s("threshold", &[], vec![*one]),
                many => b.f64s("threshold", &[k], many.to_vec()),
            };
            let above = b.node("Greater", &[&p64, &t], vec![]);
            b.nodes.push(NodeProto {
                op_type: "Cast".into(),
                name: "class_cast".into(),
                input: vec![above],
                output: vec!["class".into()],
                attribute: vec![int_attr("to", DataType::INT64 as i64)],
                ..Default::default()
            });
            vec![
                value_info("probability", DataType::FLOAT, &[None, Some(k)]),
                value_info("class", DataType::INT64, &[None, Some(k)]),
                value_info("logit", DataType::FLOAT, &[None, Some(k)]),
            ]
        }
        Loss::Mse => {
            b.node_to("Identity", &[h], vec![], "prediction");
            vec![value_info("prediction", DataType::FLOAT, &[None, Some(k)])]
        }
        Loss::CrossEntropy => softmax_head(b, h, k),
    }
}

/// A k-class head's outputs: `logits` `[N, k]`, `probabilities` (softmax in f64, as `predict`
/// computes them, cast to float) and `class` `[N, 1]`, the index in metadata `burnfit.classes`
/// of the first largest logit (`ArgMax` keeps the first; `predict` names the same class).
fn softmax_head(b: &mut Builder, h: &str, k: i64) -> Vec<ValueInfoProto> {
    b.node_to("Identity", &[h], vec![], "logits");
    let z64 = b.cast(h, DataType::DOUBLE);
    let p64 = b.node("Softmax", &[&z64], vec![int_attr("axis", 1)]);
    b.node_to(
        "Cast",
        &[&p64],
        vec![int_attr("to", DataType::FLOAT as i64)],
        "probabilities",
    );
    b.node_to(
        "ArgMax",
        &[h],
        vec![int_attr("axis", 1), int_attr("keepdims", 1)],
        "class",
    );
    vec![
        value_info("probabilities", DataType::FLOAT, &[None, Some(k)]),
        value_info("class", DataType::INT64, &[None, Some(1)]),
        value_info("logits", DataType::FLOAT, &[None, Some(k)]),
    ]
}

fn activation(b: &mut Builder, h: &str, a: Activation) -> String {
    match a {
        Activation::Relu => b.node("Relu", &[h], vec![]),
        Activation::Tanh => b.node("Tanh", &[h], vec![]),
        Activation::Sigmoid => b.node("Sigmoid", &[h], vec![]),
        Activation::Gelu => {
            // x · Φ(x) = x · (1 + erf(x / √2)) / 2, the exact form Burn computes.
            let root2 = b.f32s("sqrt2", &[], vec![std::f32::consts::SQRT_2]);
            let one = b.f32s("one", &[], vec![1.0]);
            let half = b.f32s("half", &[], vec![0.5]);
            let scaled = b.node("Div", &[h, &root2], vec![]);
            let erf = b.node("Erf", &[&scaled], vec![]);
            let plus = b.node("Add", &[&erf, &one], vec![]);
            let times = b.node("Mul", &[h, &plus], vec![]);
            b.node("Mul", &[&times, &half], vec![])
        }
    }
}
