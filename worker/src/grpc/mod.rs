//! The gRPC edge of the worker: request checks and wire conversions ([`convert`]),
//! and the `fenliu.v1.Routing` service ([`service`]).

pub mod convert;
pub mod service;

pub use service::RoutingService;
