//! How a command fails: a message for `Error: …` and an exit code. Built from daemon statuses
//! and connection errors in one place.

use crate::autostart::StartError;
use tonic::Code;

#[derive(Debug)]
pub enum Failure {
    /// Print `Error: <message>`, exit 1.
    Message(String),
    /// Everything was already said; exit with this code.
    Exit(u8),
}

impl Failure {
    pub fn msg(text: impl Into<String>) -> Self {
        Failure::Message(text.into())
    }
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            // huggingface_hub raises ValueError for these; its CLI says "Invalid value. …".
            Code::InvalidArgument | Code::NotFound => Failure::Message(format!("Invalid value. {}", s.message())),
            Code::Unknown | Code::Internal
                if s.message().contains("transport") || s.message().contains("connection") =>
            {
                Failure::Message(format!("lost the connection to hf-authd ({})", s.message()))
            }
            // The connection's bound on each call fired: a hung or overloaded daemon.
            _ if crate::connect::transport::is_timeout(&s) => Failure::Message(
                "hf-authd did not answer in time; if it is hung, end it (its pid is in the .pid file beside its socket)".to_owned(),
            ),
            _ => Failure::Message(s.message().to_owned()),
        }
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<crate::connect::ConnectError> for Failure {
    fn from(e: crate::connect::ConnectError) -> Self {
        Failure::Message(e.to_string())
    }
}

impl From<crate::api::Error> for Failure {
    fn from(e: crate::api::Error) -> Self {
        match e {
            crate::api::Error::Daemon(s) => s.into(),
            other => Failure::Message(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Message(e.to_string())
    }
}

pub type CmdResult = Result<(), Failure>;
