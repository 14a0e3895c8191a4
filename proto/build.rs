//! Compiles proto/ledger/v1/*.proto with protox (a pure-Rust protobuf compiler), so a fresh
//! machine needs no system `protoc`: messages with prost, services with tonic, and the file
//! descriptor set (for gRPC server reflection).

use std::error::Error;
use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("ledger/v1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={}", dir.display());

    let descriptors = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ledger_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    if std::env::var_os("CARGO_FEATURE_GRPC").is_some() {
        // Our codec: a message that does not decode is INVALID_ARGUMENT naming the field
        // (src/codec.rs), not tonic's INTERNAL.
        tonic_prost_build::configure()
            .codec_path("crate::codec::LedgerCodec")
            .compile_fds(descriptors)?;
    } else {
        prost_build::Config::new().compile_fds(descriptors)?;
    }
    Ok(())
}
