//! hf-auth: the client side of hf-authd. A thin CLI (`hf-auth`) and a git credential helper
//! (`git-credential-hf`) that capture the caller's context, send one request, print the answer;
//! and [`api`], the library other Rust tools call to get a Hub token (our binaries use it too).

pub mod api;
pub mod autostart;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod entry;
pub mod failure;
pub mod git;
pub mod git_credential;
pub mod output;
pub mod session;
pub mod table;

pub use api::{HfAuth, Resolved, Source};
