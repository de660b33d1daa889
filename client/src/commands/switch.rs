//! `hf-auth switch [--token-name NAME]` (spec §4.4): an arrow-key picker on a terminal,
//! otherwise the name is required.

use crate::cli::SwitchArgs;
use crate::commands::setup_git;
use crate::failure::{CmdResult, Failure};
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;

pub async fn run(s: &Session, args: SwitchArgs) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let name = match args.token_name {
        Some(name) => name,
        None => {
            let list = client.list(pb::ListRequest { context: s.context() }).await?.into_inner();
            let names: Vec<String> = list.tokens.into_iter().map(|t| t.name).collect();
            if names.is_empty() {
                s.out.warn("No stored tokens found. Please login first.");
                s.out.print("No token name provided. Aborting.");
                return Ok(());
            }
            if !(s.out.human() && s.out.stdin_tty) {
                return Err(Failure::msg("Use --token-name to select a token in non-interactive mode."));
            }
            let picked = dialoguer::Select::new()
                .with_prompt("Select a token to switch to")
                .items(&names)
                .default(0)
                .interact_opt()
                .map_err(|e| Failure::msg(e.to_string()))?;
            match picked {
                Some(i) => names[i].clone(),
                None => return Err(Failure::Exit(1)),
            }
        }
    };
    let r = client.switch(pb::SwitchRequest { context: s.context(), token_name: name.clone() }).await?.into_inner();
    s.out.info(&format!("Your token has been saved to {}", r.token_path));
    s.out.info(&format!("The current active token is: {name}"));
    if !r.overridden_by_env.is_empty() {
        s.out.warn(&format!(
            "The environment variable `{}` is set and will override the access token you've just switched to.",
            r.overridden_by_env
        ));
    }
    if args.add_to_git_credential {
        setup_git::configure(s, false)?;
    }
    Ok(())
}
