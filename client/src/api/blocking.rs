//! The blocking twins of [`HfAuth`]'s calls, for tools without an async runtime. Each call runs a
//! small current-thread runtime of its own; do not call these from inside a tokio runtime (tokio
//! refuses to block a runtime thread), use the async forms there.

use super::{Error, HfAuth, Resolved};
use hf_auth_proto::pb;
use tokio_stream::StreamExt;

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)
}

type EventStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::WatchEvent, Error>> + Send>>;

impl HfAuth {
    /// [`HfAuth::token`], blocking.
    pub fn token_blocking(&self) -> Result<Option<Resolved>, Error> {
        runtime()?.block_on(self.token())
    }

    /// [`HfAuth::whoami`], blocking.
    pub fn whoami_blocking(&self) -> Result<pb::WhoAmIResponse, Error> {
        runtime()?.block_on(self.whoami())
    }

    /// [`HfAuth::watch`], blocking: an iterator that waits for each event.
    pub fn watch_blocking(&self) -> Result<Watch, Error> {
        let rt = runtime()?;
        let stream = rt.block_on(self.watch())?;
        Ok(Watch { rt, stream: Box::pin(stream) })
    }
}

/// Change events, one per `next()` (which blocks until the next change).
pub struct Watch {
    rt: tokio::runtime::Runtime,
    stream: EventStream,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Iterator for Watch {
    type Item = Result<pb::WatchEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.stream.next())
    }
}
