//! The gRPC edge of the worker: request checks and wire conversions ([`convert`]),
//! the `fenliu.v1.Routing` service ([`service`]), and the same service reached
//! through the dispatcher's long-lived link ([`link`]).

pub mod convert;
pub mod link;
pub mod service;

pub use service::RoutingService;
