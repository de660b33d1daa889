//! hf-auth's contract between hf-authd and its clients: the generated gRPC code (behind
//! [`pb`]), huggingface_hub's path rules, the client context every request carries, the socket
//! path, and the token newtype both sides use.

pub mod context;
pub mod env;
pub mod paths;
mod redact;
pub mod socket;
pub mod token;

pub use context::{Access, ClientContext, EnvVar, Oidc, Routing};
pub use env::Env;
pub use paths::HomePaths;
pub use token::Token;

/// Generated protobuf and gRPC code for `hfauth.v1`.
#[allow(missing_debug_implementations, clippy::all)]
pub mod pb {
    tonic::include_proto!("hfauth.v1");
}

/// Bumped on any incompatible change to the wire contract; a client replaces a daemon that differs.
/// 2: routing (a daemon of protocol 1 would ignore `token_name`, `repo`, `cwd` and OIDC and hand
/// out the active token instead).
pub const PROTOCOL_VERSION: u32 = 2;

/// The response header every unary answer carries with [`PROTOCOL_VERSION`], so a client can
/// make its one call without a `Status` handshake first and re-handshake only on a mismatch.
/// `Resolve`'s answer, the hot path, carries the version in its `protocol` field instead (its
/// errors carry the header).
pub const PROTOCOL_HEADER: &str = "hf-auth-protocol";

/// The encoded descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hfauth_descriptor.bin"));

/// Upper bound on any request or response message (issue: bound message sizes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
