//! Shared pieces of hf-auth's end-to-end tests: the daemon harness, the fake Hub, and the real
//! huggingface_hub from a Python venv.

pub mod fake_hub;
pub mod git_server;
pub mod harness;
pub mod procs;
pub mod python;
pub mod sshd;
pub mod stub_daemon;
