//! Generates the `fenliu.v1` code. The .proto files are parsed by protox (pure Rust),
//! so building fenliu needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_files = ["fenliu/v1/routing.proto"];
    for file in proto_files {
        println!("cargo:rerun-if-changed={file}");
    }
    let file_descriptors = protox::compile(proto_files, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(file_descriptors)?;
    Ok(())
}
