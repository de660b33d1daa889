//! Compiles `hfauth/v1/*.proto` with protox (pure Rust: no system `protoc`) and hands the
//! descriptor set to tonic-prost-build. The descriptor set is also kept in OUT_DIR so the
//! daemon can serve gRPC reflection.

use prost::Message;
use std::path::PathBuf;

/// Keep in step with `src/redact.rs`, which implements `Debug` for each of these.
const SECRET_BEARING: [&str; 6] = [
    ".hfauth.v1.ClientContext",
    ".hfauth.v1.OidcContext",
    ".hfauth.v1.LoginRequest",
    ".hfauth.v1.ResolveResponse",
    ".hfauth.v1.WhoAmIRequest",
    ".hfauth.v1.ForgetWhoAmIRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["hfauth/v1/auth.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?);
    std::fs::write(out_dir.join("hfauth_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Messages that carry a token or a password: their Debug is written by hand (src/redact.rs).
        .skip_debug(SECRET_BEARING)
        .compile_fds(fds)?;
    Ok(())
}
