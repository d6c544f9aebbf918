//! Generates the `fenliu.v1` code. The .proto files are parsed by protox (pure Rust),
//! so building fenliu needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_files = ["fenliu/v1/routing.proto", "fenliu/internal/v1/link.proto"];
    for file in proto_files {
        println!("cargo:rerun-if-changed={file}");
    }
    let file_descriptors = protox::compile(proto_files, ["."])?;
    // Kept for gRPC reflection, so grpcurl can list and call the API.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("fenliu_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(file_descriptors)?;
    Ok(())
}
