//! The gRPC edge of the worker: wire types become domain types here and nowhere
//! else, and every error becomes a status here.
//!
//! - [`access`]: admitting each call when authentication is on.
//! - [`checks`]: ids, queue names and other request fields, refused naming the field.
//! - [`enum_codes`]: the public API's enums ⇄ the engine's.
//! - [`wire`]: the messages a worker answers with, built from the shop's state.
//! - [`status`]: every mapping from a worker error to a gRPC status.
//! - [`service`]: the `fenliu.v1.Routing` service.
//! - [`link`]: the same service reached through the dispatcher's long-lived link.

pub mod access;
pub mod checks;
pub mod enum_codes;
pub mod link;
pub mod service;
pub mod status;
pub mod wire;

pub use service::RoutingService;
