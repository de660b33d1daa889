//! `hf-auth exec [--token-name N] [--repo ID] -- CMD [ARGS…]`: runs CMD with `HF_TOKEN` set to the
//! token hf-authd chooses for this context, for programs that only read the environment.
//!
//! The process is replaced (exec(2)), so CMD's exit code and signals are ours and nothing of
//! hf-auth lingers. The environment changes in two variables only: `HF_TOKEN` set,
//! `HUGGING_FACE_HUB_TOKEN` removed (huggingface_hub reads `HF_TOKEN or HUGGING_FACE_HUB_TOKEN`,
//! so a stale legacy value can never shadow the chosen one). The trade-off, documented in the
//! README: a token in the environment is visible to CMD's children and to anything that dumps
//! environments (crash reporters, CI logs, `/proc/<pid>/environ` for the same user).

use crate::api::Source;
use crate::cli::ExecArgs;
use crate::failure::{CmdResult, Failure};
use crate::session::Session;
use hf_auth_proto::Access;
use std::os::unix::process::CommandExt;

pub async fn run(s: &Session, args: ExecArgs) -> CmdResult {
    let mut api = s.api();
    if let Some(name) = args.token_name {
        api = api.token_name(name);
    }
    if let Some(repo) = args.repo {
        api = api.repo_access(repo, Access::Unspecified);
    }
    let Some(resolved) = api.token().await? else {
        return Err(Failure::msg("Not logged in: no token to run the command with. Run `hf-auth login` first."));
    };
    if let Source::Env(var) = resolved.source {
        s.out.warn(&format!(
            "Note: `{}` is already set in the environment and wins; the command runs with it.",
            var.name()
        ));
    }
    let (program, rest) = args.command.split_first().ok_or_else(|| Failure::msg("no command given"))?;
    let err = std::process::Command::new(program)
        .args(rest)
        .env("HF_TOKEN", resolved.token.expose())
        .env_remove("HUGGING_FACE_HUB_TOKEN")
        .exec();
    // Only reached when exec failed; a shell's codes: 127 not found, 126 found but not runnable.
    s.out.error(&format!("cannot run {}: {err}", program.to_string_lossy()));
    Err(Failure::Exit(if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }))
}
