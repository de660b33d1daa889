//! `Watch`: a snapshot event, then one event per change to the home's files, from any writer.

use super::{EventStream, context, home};
use crate::error::Result;
use crate::home::{ChangeKind, Home};
use crate::state::Daemon;
use hf_auth_proto::pb::{self, watch_event::Kind};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub(super) async fn watch(daemon: &Arc<Daemon>, req: pb::WatchRequest) -> Result<EventStream<pb::WatchEvent>> {
    let ctx = context(req.context)?;
    let home = home(daemon, &ctx).await?;
    let mut rx = home.subscribe();
    let guard = daemon.stream_guard();
    let (tx, out) = tokio::sync::mpsc::channel(16);
    let first = event(&home, Kind::Snapshot, home.generation());
    let stopping = daemon.stopping();
    tokio::spawn(async move {
        let _guard = guard;
        tokio::pin!(stopping);
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                next = rx.recv() => next,
                () = tx.closed() => return,
                () = &mut stopping => return,
            };
            let ev = match next {
                Ok(e) => event(&home, kind(e.kind), e.generation),
                // We fell behind: the current state says everything the missed events would have.
                Err(RecvError::Lagged(_)) => event(&home, Kind::Snapshot, home.generation()),
                Err(RecvError::Closed) => return,
            };
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out)))
}

fn kind(k: ChangeKind) -> Kind {
    match k {
        ChangeKind::Active => Kind::ActiveChanged,
        ChangeKind::Stored => Kind::StoredChanged,
    }
}

fn event(home: &Home, kind: Kind, generation: u64) -> pb::WatchEvent {
    let snapshot = home.snapshot();
    let active = snapshot.active.as_ref().ok().and_then(Option::as_ref);
    pb::WatchEvent {
        kind: kind as i32,
        token_path: home.paths.token.display().to_string(),
        active_name: active.and_then(|t| home.name_of(&snapshot, t)).unwrap_or_default(),
        logged_in: active.is_some(),
        generation,
    }
}
