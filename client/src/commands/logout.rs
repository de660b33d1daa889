//! `hf-auth logout [--token-name NAME]` (spec §4.3), then huggingface_hub's `git credential
//! reject` for `hf_user`, which clears copies Python's `--add-to-git-credential` left behind.

use crate::cli::LogoutArgs;
use crate::failure::{CmdResult, Failure};
use crate::git;
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;

pub async fn run(s: &Session, args: LogoutArgs) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let r = client
        .logout(pb::LogoutRequest { context: s.context(), token_name: args.token_name.clone() })
        .await?
        .into_inner();
    if r.not_logged_in {
        s.out.warn("Not logged in!");
        return Ok(());
    }
    if r.all {
        for backup in &r.removed_backups {
            s.out.info(&format!("Deleted {backup}, a backup of stored_tokens (it held tokens too)."));
        }
        s.out.info("Successfully logged out from all access tokens.");
    } else {
        let name = args.token_name.unwrap_or_default();
        if r.active_deleted {
            s.out.warn(&format!("Active token '{name}' has been deleted."));
        }
        s.out.info(&format!("Successfully logged out from access token: {name}."));
    }
    git::reject_hf_user(&s.ctx.endpoint)
        .map_err(|e| Failure::msg(format!("{e}; could not clear git's stored credentials for {}.", s.ctx.endpoint)))?;
    if !r.still_logged_in_by_env.is_empty() {
        return Err(Failure::msg(
            "Token has been deleted from your machine but you are still logged in.\nTo log out, you must clear out both `HF_TOKEN` and `HUGGING_FACE_HUB_TOKEN` environment variables.",
        ));
    }
    Ok(())
}
