//! `DeviceLogin`: huggingface_hub's browser login (RFC 8628 device code), run by the daemon and
//! streamed to the client: the code and URL, a tick per pending poll, then the login's outcome.
//! The client dropping the stream (Ctrl-C) cancels the flow here.

use super::account::save_and_activate;
use super::{EventStream, context};
use crate::error::{Error, Result};
use crate::hub::oauth::Poll;
use crate::resolve::Source;
use crate::state::Daemon;
use crate::store::origin::Origin;
use hf_auth_proto::pb::{self, device_login_event::Event};
use hf_auth_proto::{ClientContext, Token};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tonic::Status;

type Tx = mpsc::Sender<std::result::Result<pb::DeviceLoginEvent, Status>>;

pub(super) async fn device_login(
    daemon: &Arc<Daemon>,
    req: pb::DeviceLoginRequest,
) -> Result<EventStream<pb::DeviceLoginEvent>> {
    let ctx = context(req.context)?;
    let (tx, rx) = mpsc::channel(8);
    let daemon = daemon.clone();
    let guard = daemon.stream_guard();
    tokio::spawn(async move {
        let _guard = guard;
        let stopping = daemon.stopping();
        tokio::select! {
            result = flow(&daemon, &ctx, &tx) => {
                if let Err(e) = result {
                    let _ = tx.send(Err(Status::from(e))).await;
                }
            }
            () = tx.closed() => tracing::info!("browser login cancelled by the client"),
            () = stopping => {
                let _ = tx.send(Err(Status::unavailable("hf-authd is shutting down"))).await;
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

fn event(e: Event) -> std::result::Result<pb::DeviceLoginEvent, Status> {
    Ok(pb::DeviceLoginEvent { event: Some(e) })
}

async fn flow(daemon: &Arc<Daemon>, ctx: &ClientContext, tx: &Tx) -> Result<()> {
    let hub = &daemon.hub;
    let code =
        hub.request_device_code(&ctx.endpoint, &ctx.oauth_client_id, ctx.offline).await.map_err(Error::Unavailable)?;
    let shown = pb::DeviceCode {
        verification_uri: code.verification_uri.clone(),
        verification_uri_complete: code.verification_uri_complete.clone(),
        user_code: code.user_code.clone(),
        expires_in: code.expires_in as i64,
        interval: code.interval as i64,
    };
    if tx.send(event(Event::Code(shown))).await.is_err() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(code.expires_in);
    let mut interval = Duration::from_secs(code.interval);
    let mut pending = 0u32;
    // First poll at once, then `interval` after each answer that is not final.
    let token = loop {
        if Instant::now() >= deadline {
            return Err(Error::Unavailable("Device code expired (timeout). Please try again.".into()));
        }
        match hub.poll_device_token(&ctx.endpoint, &ctx.oauth_client_id, &code.device_code).await {
            Poll::Done(token) => break token,
            Poll::Pending => {
                pending += 1;
                if tx.send(event(Event::Pending(pending))).await.is_err() {
                    return Ok(());
                }
            }
            Poll::SlowDown => {
                interval = (interval + Duration::from_secs(5))
                    .min(Duration::from_secs(crate::hub::oauth::MAX_POLL_INTERVAL_SECS))
            }
            Poll::Transient(why) => tracing::debug!(%why, "device login poll failed; polling again"),
            Poll::Failed(message) => return Err(Error::Unavailable(message)),
        }
        tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
    };
    let access = Token::new(token.access_token);
    let (who, _) = daemon
        .whoami
        .get(hub, &ctx.endpoint, &access, ctx.offline, true)
        .await
        .map_err(|error| Error::Hub { error, token_source: Source::None })?;
    let name = who.token_name();
    let expires_at = token.expires_in.map(|s| crate::refresh::unix_now().saturating_add(s));
    // The endpoint and client id that issued it: its refresh goes there and nowhere else.
    let origin = Origin::new(&ctx.endpoint, Some(&ctx.oauth_client_id));
    let (outcome, storage) =
        save_and_activate(daemon, ctx, &name, &access, token.refresh_token.clone(), expires_at, origin).await?;
    daemon.refresher.kick();
    let success = pb::LoginResponse {
        token_name: name,
        role: who.token_role.clone().unwrap_or_default(),
        username: who.name.clone(),
        stored_tokens_path: ctx.paths.stored_tokens.display().to_string(),
        token_path: ctx.paths.token.display().to_string(),
        shadowed_by_env: ctx.env_token_cleaned().map(|(_, v)| v.name().to_owned()).unwrap_or_default(),
        expires_in: token.expires_in.unwrap_or_default(),
        will_refresh: token.refresh_token.is_some(),
        storage: storage as i32,
        backup_path: outcome.backup.map(|p| p.display().to_string()).unwrap_or_default(),
    };
    let _ = tx.send(event(Event::Success(success))).await;
    Ok(())
}
