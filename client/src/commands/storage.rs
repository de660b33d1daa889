//! `hf-auth storage status` and `hf-auth storage migrate --to keyring|file`: where the secrets
//! of the stored tokens are kept, and moving them between the token files and the OS keyring.

use crate::cli::{StorageCommand, StorageTarget};
use crate::commands::info::storage_name;
use crate::failure::CmdResult;
use crate::output::Format;
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;
use serde_json::json;
use std::time::Duration;

/// A migration makes a few keyring calls per token, each bounded by the daemon's keyring timeout.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(s: &Session, cmd: StorageCommand) -> CmdResult {
    match cmd {
        StorageCommand::Status => status(s).await,
        StorageCommand::Migrate { to } => migrate(s, to).await,
    }
}

async fn status(s: &Session) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let st = client.status(pb::StatusRequest { context: s.context() }).await?.into_inner();
    let list = client.list(pb::ListRequest { context: s.context() }).await?.into_inner();
    let configured = storage_name(st.configured_storage);
    if s.out.format == Format::Json {
        let tokens: Vec<_> =
            list.tokens.iter().map(|t| json!({"name": t.name, "storage": storage_name(t.storage)})).collect();
        s.out.print(
            &json!({"configured": configured, "stored_tokens_path": list.stored_tokens_path, "tokens": tokens})
                .to_string(),
        );
        return Ok(());
    }
    let mut lines = vec![format!("Storage for new logins: {configured}")];
    if list.tokens.is_empty() {
        lines.push(format!("No stored tokens in {}.", list.stored_tokens_path));
    }
    for t in &list.tokens {
        let place = match pb::Storage::try_from(t.storage) {
            Ok(pb::Storage::Keyring) => "OS keyring".to_owned(),
            _ => format!("{} (plain text)", list.stored_tokens_path),
        };
        lines.push(format!("  {}: {place}", t.name));
    }
    if list.tokens.iter().any(|t| storage_name(t.storage) != configured) {
        lines.push(format!("Run `hf-auth storage migrate --to {configured}` to move the others."));
    }
    s.out.print(&lines.join("\n"));
    Ok(())
}

async fn migrate(s: &Session, to: StorageTarget) -> CmdResult {
    let mut client = s.client(Some(MIGRATE_TIMEOUT)).await?;
    let target = match to {
        StorageTarget::Keyring => pb::Storage::Keyring,
        StorageTarget::File => pb::Storage::File,
    };
    let r = client
        .migrate_storage(pb::MigrateStorageRequest { context: s.context(), to: target as i32 })
        .await?
        .into_inner();
    let name = storage_name(target as i32);
    if s.out.format == Format::Json {
        s.out.print(
            &json!({"to": name, "moved": r.moved, "already": r.already, "token_file_mirrored": r.token_file_mirrored,
                    "config_path": (!r.config_path.is_empty()).then_some(&r.config_path)})
            .to_string(),
        );
        return Ok(());
    }
    let place = if target == pb::Storage::Keyring { "the OS keyring" } else { "stored_tokens (plain text)" };
    s.out.print(&format!("Moved {} token(s) to {place}; {} already there.", r.moved, r.already));
    if r.config_path.is_empty() {
        s.out.info(&format!("New logins use {name} storage until hf-authd restarts."));
    } else {
        s.out.info(&format!("New logins use {name} storage (saved in {}).", r.config_path));
    }
    if target == pb::Storage::Keyring && r.token_file_mirrored {
        s.out.info("The active token is still written to the token file, for huggingface_hub and hf-hub.");
    } else if target == pb::Storage::Keyring {
        s.out.warn(
            "The active token is no longer written to the token file (mirror_token_file = false): huggingface_hub \
             and hf-hub will not find it; give them HF_TOKEN=\"$(hf-auth token)\".",
        );
    }
    Ok(())
}
