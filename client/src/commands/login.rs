//! `hf-auth login`: with `--token` (or `--token -` from stdin), pasted on a terminal, or in the
//! browser (device code). Prints huggingface_hub's login transcript on stderr.

use crate::cli::LoginArgs;
use crate::commands::setup_git;
use crate::failure::{CmdResult, Failure};
use crate::output::Format;
use crate::session::{HUB_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;
use std::io::BufRead;
use tokio_stream::StreamExt;

pub async fn run(s: &Session, args: LoginArgs) -> CmdResult {
    let token = match args.token.as_deref() {
        Some("-") => Some(read_token_from_stdin()?),
        Some(t) => Some(t.to_owned()),
        None => None,
    };
    match token {
        Some(token) => login_with_token(s, token, args.add_to_git_credential).await,
        None => interactive(s, args).await,
    }
}

fn read_token_from_stdin() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::msg("No token on standard input."));
    }
    Ok(token)
}

pub async fn login_with_token(s: &Session, token: String, add_to_git: bool) -> CmdResult {
    let mut client = s.client(Some(HUB_CALL_TIMEOUT)).await?;
    let request = pb::LoginRequest { context: s.context(), token };
    let response = s.out.spin("Checking the token with the Hub…", client.login(request)).await?.into_inner();
    report_login(s, &response, add_to_git)
}

/// The transcript after a successful login (spec §4.1 steps 4–9), then the git step.
fn report_login(s: &Session, r: &pb::LoginResponse, add_to_git: bool) -> CmdResult {
    let out = &s.out;
    if !r.backup_path.is_empty() {
        out.warn(&format!(
            "{} could not be parsed, or has a [DEFAULT] section a rewrite drops; it was copied to {} before \
             being rewritten.",
            r.stored_tokens_path, r.backup_path
        ));
    }
    if r.role.is_empty() {
        out.info("Token is valid.");
    } else {
        out.info(&format!("Token is valid (permission: {}).", r.role));
    }
    out.info(&format!("The token `{}` has been saved to {}", r.token_name, r.stored_tokens_path));
    out.info(&format!("Your token has been saved to {}", r.token_path));
    out.info("Login successful.");
    if r.shadowed_by_env.is_empty() {
        out.info(&format!("The current active token is: `{}`", r.token_name));
    } else {
        out.warn(&format!(
            "Note: Environment variable `{}` is set and is the current active token independently from the token you've just configured.",
            r.shadowed_by_env
        ));
    }
    if r.will_refresh {
        out.info("Note: This token will be refreshed automatically when it expires.");
    } else if r.expires_in > 0 {
        out.info(&format!(
            "Note: This token expires in {} days. Log in again to renew it.",
            (r.expires_in / 86_400).max(1)
        ));
    }
    if out.format == Format::Quiet {
        out.print(&r.token_name);
    }
    if add_to_git {
        setup_git::configure(s, false)?;
    } else if !setup_git::is_configured(s) {
        out.info("Git is not set up to use this token; run `hf-auth setup-git` (or log in with --add-to-git-credential) so `git push` to the Hub uses it.");
    }
    Ok(())
}

async fn interactive(s: &Session, args: LoginArgs) -> CmdResult {
    if s.out.format != Format::Human {
        return Err(Failure::msg(
            "`hf-auth login` is interactive and does not support --format json/quiet. Pass --token for a non-interactive login.",
        ));
    }
    let mut client = s.client(Some(HUB_CALL_TIMEOUT)).await?;
    let resolved =
        client.resolve(pb::ResolveRequest { context: s.context(), username: String::new() }).await?.into_inner();
    if !resolved.token.is_empty() {
        if !args.force {
            s.out.info("User is already logged in. Use `hf-auth login --force` to force re-login.");
            return Ok(());
        }
        s.out.info("Note: a token is already saved on this machine. Logging in again will replace the active token.");
    }
    if !s.out.stdin_tty {
        return device_login(s).await;
    }
    let choice = dialoguer::Select::new()
        .with_prompt("How would you like to log in?")
        .items(["Log in with your browser", "Paste an access token"])
        .default(0)
        .interact_opt()
        .map_err(|e| Failure::msg(e.to_string()))?;
    match choice {
        Some(0) => device_login(s).await,
        Some(_) => {
            s.out.info(
                "    To log in, `hf-auth` requires a token generated from https://huggingface.co/settings/tokens .",
            );
            let token = dialoguer::Password::new()
                .with_prompt("Enter your token (input will not be visible)")
                .interact()
                .map_err(|e| Failure::msg(e.to_string()))?;
            let add = dialoguer::Confirm::new()
                .with_prompt("Add token as git credential?")
                .default(false)
                .interact()
                .map_err(|e| Failure::msg(e.to_string()))?;
            login_with_token(s, token.trim().to_owned(), add || args.add_to_git_credential).await
        }
        None => Err(Failure::Exit(1)),
    }
}

/// The browser flow: the daemon runs it and streams what to show; dropping the stream (Ctrl-C)
/// cancels it in the daemon.
async fn device_login(s: &Session) -> CmdResult {
    let mut client = s.client(None).await?;
    let mut stream = client.device_login(pb::DeviceLoginRequest { context: s.context() }).await?.into_inner();
    let mut dots = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = &mut ctrl_c => {
                if dots { println!(); }
                s.out.info("Login cancelled.");
                return Err(Failure::Exit(130));
            }
        };
        let Some(event) = event else {
            return Err(Failure::msg("Login failed: hf-authd ended the login without an answer."));
        };
        let event = match event {
            Ok(e) => e,
            Err(status) => {
                if dots {
                    println!();
                }
                return Err(Failure::msg(format!("Login failed: {}", status.message())));
            }
        };
        match event.event {
            Some(pb::device_login_event::Event::Code(code)) => {
                print!(
                    "\n    Open this URL in your browser:\n        {}\n\n    And enter the code: {}\n\n    Waiting for authorization",
                    code.verification_uri_complete, code.user_code
                );
                flush();
            }
            Some(pb::device_login_event::Event::Pending(_)) => {
                print!(".");
                dots = true;
                flush();
            }
            Some(pb::device_login_event::Event::Success(r)) => {
                println!();
                return report_login(s, &r, false);
            }
            None => {}
        }
    }
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
