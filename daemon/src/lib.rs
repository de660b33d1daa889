//! hf-authd: the per-user credential daemon for the Hugging Face Hub.
//!
//! It owns `$HF_HOME/token` and `stored_tokens` (byte-compatible with huggingface_hub 2.4.0),
//! keeps every home it serves in memory, watches the files for changes by other programs, and
//! serves `hfauth.v1.HfAuth` over a Unix socket.

pub mod audit;
pub mod clock;
pub mod config;
pub mod config_watch;
pub mod conns;
pub mod error;
pub mod forward;
pub mod home;
pub mod homes;
pub mod hub;
pub mod idle;
pub mod issuer;
mod malloc;
pub mod refresh;
pub mod request_budget;
pub mod resolve;
pub mod route;
pub mod run;
pub mod secure_fs;
pub mod security;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod watch;
