//! Compiles `hfauth/v1/*.proto` with protox (pure Rust: no system `protoc`) and hands the
//! descriptor set to tonic-prost-build. The descriptor set is also kept in OUT_DIR so the
//! daemon can serve gRPC reflection.

use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["hfauth/v1/auth.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?);
    std::fs::write(out_dir.join("hfauth_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
