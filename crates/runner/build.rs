//! Empty on purpose: it exists so that the `[build-dependencies]` in Cargo.toml are resolved,
//! which gives `cargo run` and `cargo test` one feature set for `syn` and therefore one build of
//! every proc-macro crate and of Burn (see the comment there).

fn main() {}
