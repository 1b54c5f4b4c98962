//! Stand-alone entry of the model tests until the integration tests share one binary.
#[path = "it/model/mod.rs"]
mod model;
