//! hf-auth's end-to-end tests: the real daemon on a temporary socket, a fake Hub on loopback,
//! the real huggingface_hub from a venv. One binary, one module per topic.

mod cli;
pub mod clients;
mod daemon_rpc;
mod forward;
mod git;
mod handshake;
mod issuer;
mod keyring;
mod oauth;
mod packaging;
mod python_interop;
mod reliability;
mod routing;
mod security;
mod terminal;
mod watch;
mod whoami_cache;
