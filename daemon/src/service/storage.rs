//! `MigrateStorage`: moves every stored token of the caller's home to the file or the keyring
//! ([`crate::store::migrate`]), then makes that the daemon's storage for new logins and writes
//! the choice into the config file it loaded, so a restart keeps it.

use super::{blocking, context, home};
use crate::config::{self, StorageMode};
use crate::error::{Error, Result};
use crate::state::Daemon;
use crate::store::migrate;
use hf_auth_proto::pb;
use std::sync::Arc;

pub(super) async fn migrate_storage(
    daemon: &Arc<Daemon>,
    req: pb::MigrateStorageRequest,
) -> Result<pb::MigrateStorageResponse> {
    let ctx = context(req.context)?;
    let to = match pb::Storage::try_from(req.to) {
        Ok(pb::Storage::File) => StorageMode::File,
        Ok(pb::Storage::Keyring) => StorageMode::Keyring,
        _ => return Err(Error::InvalidArgument("storage must be \"file\" or \"keyring\"".into())),
    };
    let home = home(daemon, &ctx).await?;
    let paths = ctx.paths.clone();
    let done = blocking(move || {
        let kr = home.keyring();
        let result = match to {
            StorageMode::Keyring => migrate::to_keyring(&paths, &kr),
            StorageMode::File => migrate::to_file(&paths, &kr),
        };
        // Whatever moved before a failure is on disk: show it.
        home.reload();
        Ok(result?)
    })
    .await?;
    daemon.set_storage(to);
    let config_path = match daemon.config.source.clone() {
        Some(path) => {
            let p = path.clone();
            blocking(move || {
                config::persist_storage(&p, to).map_err(|e| {
                    Error::Internal(format!("the tokens were moved, but {} could not be updated: {e}", p.display()))
                })
            })
            .await?;
            path.display().to_string()
        }
        None => String::new(),
    };
    tracing::info!(?to, moved = done.moved, already = done.already, "storage migrated");
    Ok(pb::MigrateStorageResponse {
        moved: done.moved,
        already: done.already,
        config_path,
        token_file_mirrored: to == StorageMode::File || daemon.config.mirror_token_file,
    })
}
