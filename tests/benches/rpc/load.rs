//! The load generator: `Resolve` over the daemon's Unix socket with 1, 16 and 256 concurrent
//! clients (each its own connection, as each git helper is), against the physical floor measured
//! the same way: a raw Unix-socket echo round trip to a server in another process.
//!
//! The generator is one current-thread runtime; the daemon and the echo server are both separate
//! processes with two worker threads, so both sides of a comparison share the machine's cores
//! alike (or the cores they are pinned to: `crate::placement`).

use crate::report::Samples;
use hf_auth::connect::{self, Client};
use hf_auth_proto::pb;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Bytes per echo round trip: about one Resolve request (HEADERS + DATA frames ≈ 210 bytes).
pub const ECHO_BYTES: usize = 200;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Latencies of every call and the wall time of the whole run.
#[derive(Debug)]
pub struct Run {
    pub latencies: Samples,
    pub wall: Duration,
}

impl Run {
    pub fn empty() -> Self {
        Self { latencies: Samples::new(Vec::new()), wall: Duration::ZERO }
    }

    /// Two runs as one: all their calls over their summed wall time.
    pub fn merge(self, other: Run) -> Run {
        Run { latencies: self.latencies.merge(other.latencies), wall: self.wall + other.wall }
    }

    pub fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Drives `workers` (each owning one connection) until `total` calls are done between them,
/// after `warmup` untimed calls each. `call` takes a worker and hands it back.
async fn drive<W, F, Fut>(workers: Vec<W>, total: usize, warmup: usize, call: F) -> anyhow::Result<Run>
where
    W: Send + 'static,
    F: Fn(W) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = anyhow::Result<W>> + Send,
{
    let mut warmed = Vec::with_capacity(workers.len());
    let mut set = tokio::task::JoinSet::new();
    for mut w in workers {
        set.spawn(async move {
            for _ in 0..warmup {
                w = call(w).await?;
            }
            anyhow::Ok(w)
        });
    }
    while let Some(w) = set.join_next().await {
        warmed.push(w??);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for mut w in warmed {
        let next = next.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(total / 8 + 16);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                w = call(w).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(lat) = set.join_next().await {
        all.extend(lat??);
    }
    Ok(Run { latencies: Samples::new(all), wall: start.elapsed() })
}

pub async fn clients(socket: &Path, n: usize) -> anyhow::Result<Vec<Client>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(connect::connect(socket, Duration::from_secs(5), Some(CALL_TIMEOUT)).await?);
    }
    Ok(out)
}

/// `total` Resolve calls from `concurrency` clients; every answer must carry a token.
pub async fn resolve(
    socket: &Path,
    ctx: &pb::ClientContext,
    concurrency: usize,
    total: usize,
    warmup: usize,
) -> anyhow::Result<Run> {
    let workers: Vec<(Client, pb::ClientContext)> =
        clients(socket, concurrency).await?.into_iter().map(|c| (c, ctx.clone())).collect();
    drive(workers, total, warmup, |(mut client, ctx): (Client, pb::ClientContext)| async move {
        let request = pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() };
        let r = client.resolve(request).await?.into_inner();
        anyhow::ensure!(!r.token.is_empty(), "Resolve answered without a token");
        Ok((client, ctx))
    })
    .await
}

/// `n` sequential calls, each on a connection of its own (connect, Resolve, close): what every
/// git-credential-hf process does, without the process around it.
pub async fn resolve_fresh(socket: &Path, ctx: &pb::ClientContext, n: usize) -> anyhow::Result<Samples> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut client = connect::connect(socket, Duration::from_secs(5), Some(CALL_TIMEOUT)).await?;
        let r = client.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() }).await?;
        anyhow::ensure!(!r.into_inner().token.is_empty(), "Resolve answered without a token");
        drop(client);
        lat.push(t.elapsed());
    }
    Ok(Samples::new(lat))
}

/// `n` sequential echo round trips, each on a connection of its own.
pub async fn echo_fresh(socket: &Path, n: usize) -> anyhow::Result<Samples> {
    let mut lat = Vec::with_capacity(n);
    let mut buf = vec![0u8; ECHO_BYTES];
    for _ in 0..n {
        let t = Instant::now();
        let mut stream = UnixStream::connect(socket).await?;
        stream.write_all(&buf).await?;
        stream.read_exact(&mut buf).await?;
        drop(stream);
        lat.push(t.elapsed());
    }
    Ok(Samples::new(lat))
}

/// `total` echo round trips of [`ECHO_BYTES`] from `concurrency` connections.
pub async fn echo(socket: &Path, concurrency: usize, total: usize, warmup: usize) -> anyhow::Result<Run> {
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        workers.push((UnixStream::connect(socket).await?, vec![0u8; ECHO_BYTES]));
    }
    drive(workers, total, warmup, |(mut stream, mut buf): (UnixStream, Vec<u8>)| async move {
        stream.write_all(&buf).await?;
        stream.read_exact(&mut buf).await?;
        Ok((stream, buf))
    })
    .await
}

/// `n` sequential WhoAmI calls on one connection, after one that fills the daemon's cache.
/// Returns the latencies and how many answers said they came from the cache.
pub async fn whoami(socket: &Path, ctx: &pb::ClientContext, n: usize) -> anyhow::Result<(Samples, usize)> {
    let mut client = connect::connect(socket, Duration::from_secs(5), Some(CALL_TIMEOUT)).await?;
    let request = || pb::WhoAmIRequest { context: Some(ctx.clone()), token: String::new(), fresh: false };
    let first = client.who_am_i(request()).await?.into_inner();
    anyhow::ensure!(first.name == crate::setup::USER, "WhoAmI answered {:?}", first.name);
    let (mut lat, mut cached) = (Vec::with_capacity(n), 0);
    for _ in 0..n {
        let t = Instant::now();
        let r = client.who_am_i(request()).await?.into_inner();
        lat.push(t.elapsed());
        cached += usize::from(r.cached);
    }
    Ok((Samples::new(lat), cached))
}

/// `n` sequential GET /api/whoami-v2 straight to the (fake) Hub, on one kept-alive connection.
pub async fn whoami_direct(endpoint: &str, token: &str, n: usize) -> anyhow::Result<Samples> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{endpoint}/api/whoami-v2");
    let get = || async {
        let r = client.get(&url).bearer_auth(token).send().await?.error_for_status()?;
        anyhow::Ok(r.bytes().await?)
    };
    get().await?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        get().await?;
        lat.push(t.elapsed());
    }
    Ok(Samples::new(lat))
}
