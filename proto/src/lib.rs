//! fenliu's public gRPC API, package `fenliu.v1`: the `Routing` service that both the
//! dispatcher and the worker serve, and its messages. Generated from
//! `proto/fenliu/v1/routing.proto`; read that file for the documentation of every field.

#![allow(missing_debug_implementations, clippy::all)]

/// Version 1 of the API.
pub mod v1 {
    tonic::include_proto!("fenliu.v1");
}

/// The link between a dispatcher and its workers (not a public API).
pub mod internal {
    pub mod v1 {
        tonic::include_proto!("fenliu.internal.v1");
    }
}

/// The encoded `FileDescriptorSet` of the API, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fenliu_descriptor.bin"));
