//! hf-auth: the client side of hf-authd. A thin CLI (`hf-auth`) and a git credential helper
//! (`git-credential-hf`) that capture the caller's context, send one request, print the answer.

pub mod autostart;
pub mod cli;
pub mod commands;
pub mod compatible;
pub mod connect;
pub mod failure;
pub mod git;
pub mod git_credential;
pub mod output;
pub mod session;
pub mod table;
