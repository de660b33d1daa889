//! git's credential helper protocol: the hardened reader/writer ([`protocol`]) and the
//! `git-credential-hf` logic on top of it ([`helper`]).

pub mod helper;
pub mod protocol;
