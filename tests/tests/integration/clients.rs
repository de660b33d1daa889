//! Every tool can ask (issue 14): `hf-auth exec` ([`exec`]), the Rust library API ([`rust_api`])
//! and its hf-hub example ([`example`]), the Python package and stock gRPC peers ([`python`]).
//! The keyring-mode run of the Python package (no token on disk) is in `keyring::python_client`.
//! [`routing`]: the same clients with `[[route]]` rules (they pass once routing lands).

pub mod example;
mod exec;
mod python;
mod routing;
mod rust_api;
