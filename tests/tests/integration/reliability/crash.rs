//! Crash safety: the real `hf-authd` is killed with SIGKILL at a random moment (0–20 ms) while a
//! client streams writes at it (login, logout, switch of scratch names), round after round. After
//! every kill:
//! - both files parse, with our parser now and with Python's configparser (huggingface_hub's exact
//!   call) over every round's copy at the end;
//! - every write the daemon acknowledged is on disk, and the one in flight is either wholly there
//!   or wholly absent, per file (each file is replaced atomically; the pair is not, as in Python);
//! - after the restart no temp file of ours is left in the home, and the restarted daemon answers
//!   its first request at once.

use super::{RealDaemon, Rng, connect, context_for, private_run_dir};
use hf_auth::connect::Client;
use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::python;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ROUNDS: usize = 200;
/// Scratch names the writes cycle through (`crash-0` …): small files, many overwrites.
const NAMES: u64 = 6;
/// Longest random delay before the kill. Odd rounds count it from the restart (a kill may land
/// before any write); even rounds from the first acknowledged write, so that however slow a
/// loaded machine makes each write, half the rounds kill in the middle of a stream of them.
const MAX_KILL_MS: u64 = 20;
/// Every this many rounds a leftover temp file is planted before the restart, so the sweep is
/// proven even in a run where no kill happened to land between a temp file's creation and its rename.
const PLANT_EVERY: usize = 50;
const TEMP_PREFIX: &str = ".hf-auth-tmp-";
/// A section nobody touches: it must survive every crash.
const KEEP: (&str, &str) = ("keep", "hf_keep_KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK");

fn token(k: u64, version: u64) -> String {
    format!("hf_crash{k}v{version}_CCCCCCCCCCCCCCCCCCCCCCCCCCCC")
}

/// The two files as huggingface_hub sees them: name → hf_token, and the active token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct State {
    sections: BTreeMap<String, String>,
    active: Option<String>,
}

impl State {
    fn read(dir: &Path) -> Result<State, String> {
        let sections = match std::fs::read(dir.join("stored_tokens")) {
            Ok(bytes) => super::parsed_sections(&bytes).map_err(|e| format!("stored_tokens does not parse: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("stored_tokens: {e}")),
        };
        let active = match std::fs::read_to_string(dir.join("token")) {
            Ok(t) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("token: {e}")),
        };
        Ok(State { sections: sections.into_iter().collect(), active })
    }
}

#[derive(Clone, Debug)]
enum Op {
    Login { name: String, token: String },
    Logout(String),
    Switch(String),
}

impl Op {
    /// The model's state after this op is acknowledged.
    fn apply(&self, before: &State) -> State {
        let mut s = before.clone();
        match self {
            Op::Login { name, token } => {
                s.sections.insert(name.clone(), token.clone());
                s.active = Some(token.clone());
            }
            Op::Logout(name) => {
                let removed = s.sections.remove(name);
                if removed.is_some() && removed == s.active {
                    s.active = None;
                }
            }
            Op::Switch(name) => s.active = s.sections.get(name).cloned(),
        }
        s
    }

    /// A write that changes something, chosen from the current state.
    fn pick(rng: &mut Rng, s: &State) -> Op {
        let k = rng.below(NAMES);
        let name = format!("crash-{k}");
        match s.sections.get(&name) {
            None => Op::Login { name, token: token(k, rng.below(2)) },
            Some(current) => match rng.below(4) {
                0 => Op::Login { token: if *current == token(k, 0) { token(k, 1) } else { token(k, 0) }, name },
                1 => Op::Logout(name),
                2 => Op::Switch(name),
                _ => Op::Switch(KEEP.0.to_owned()),
            },
        }
    }

    async fn send(&self, c: &mut Client, ctx: &pb::ClientContext) -> Result<(), tonic::Status> {
        let context = Some(ctx.clone());
        match self {
            Op::Login { token, .. } => c.login(pb::LoginRequest { context, token: token.clone() }).await.map(drop),
            Op::Logout(name) => c.logout(pb::LogoutRequest { context, token_name: Some(name.clone()) }).await.map(drop),
            Op::Switch(name) => c.switch(pb::SwitchRequest { context, token_name: name.clone() }).await.map(drop),
        }
    }
}

/// Writes until the daemon dies. Returns the acknowledged state and the write in flight.
async fn write_until_killed(
    mut c: Client,
    ctx: pb::ClientContext,
    mut model: State,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> Result<(State, Option<Op>, usize), String> {
    let mut acked = 0;
    loop {
        let op = Op::pick(&mut rng, &model);
        match op.send(&mut c, &ctx).await {
            Ok(()) => {
                model = op.apply(&model);
                acked += 1;
                acks.store(acked, Ordering::SeqCst);
            }
            Err(_) if killed.load(Ordering::SeqCst) => return Ok((model, Some(op), acked)),
            Err(status) => return Err(format!("{op:?} failed before any kill: {status:?}")),
        }
    }
}

/// Our temp files and backups of unparseable files: neither may outlive a restart.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(TEMP_PREFIX) || n.contains(".corrupt-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_keeps_files_whole_and_acknowledged_writes_and_restarts_clean() {
    let hub = FakeHub::start().await;
    for k in 0..NAMES {
        for v in 0..2 {
            hub.add_token(&token(k, v), Account::user("carol").with_token_name(&format!("crash-{k}"), "write"));
        }
    }
    let scratch = tempfile::Builder::new().prefix("hfcrash").tempdir().expect("tempdir");
    let socket = private_run_dir(scratch.path()).join("hf-authd.sock");
    let home = scratch.path().join("hf");
    let snapshots = scratch.path().join("snapshots");
    std::fs::create_dir_all(&home).expect("mkdir home");
    std::fs::write(home.join("stored_tokens"), format!("[{}]\nhf_token = {}\n\n", KEEP.0, KEEP.1)).expect("seed");
    std::fs::write(home.join("token"), KEEP.1).expect("seed token");
    let ctx = context_for(&home, &hub.endpoint());
    let log = scratch.path().join("daemon.log");
    let mut rng = Rng::from_env("crash");

    let mut model = State::read(&home).expect("seed state");
    let (mut acked_total, mut inflight_landed, mut inflight_lost, mut torn_writes, mut planted) = (0, 0, 0, 0, 0);
    let mut first_answer_max = Duration::ZERO;
    let started = Instant::now();
    for round in 0..ROUNDS {
        // Restart: the daemon must sweep leftovers while opening its home, before it says ready,
        // and answer its first request at once.
        let spawned = Instant::now();
        let daemon = RealDaemon::spawn(&socket, &home, &hub.endpoint(), &log);
        let left = leftovers(&home);
        assert!(left.is_empty(), "round {round}: after the restart these are still in the home: {left:?}");
        let mut c = connect(&daemon.socket).await;
        let r = c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() }).await;
        let r = r.unwrap_or_else(|e| panic!("round {round}: the restarted daemon's first Resolve failed: {e:?}"));
        first_answer_max = first_answer_max.max(spawned.elapsed());
        assert_eq!(Some(r.into_inner().token).filter(|t| !t.is_empty()), model.active, "round {round}: Resolve");

        let killed = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_until_killed(
            c,
            ctx.clone(),
            model.clone(),
            Rng(rng.next()),
            killed.clone(),
            acks.clone(),
        ));
        if round % 2 == 0 {
            let first = Instant::now();
            while acks.load(Ordering::SeqCst) == 0 && first.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.below(MAX_KILL_MS + 1))).await;
        killed.store(true, Ordering::SeqCst);
        daemon.kill9();
        let (acked, inflight, n) = tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("the writer notices the kill")
            .expect("writer task")
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        acked_total += n;

        let on_disk = State::read(&home).unwrap_or_else(|e| panic!("round {round}: after kill -9: {e}"));
        let after = inflight.as_ref().map_or_else(|| acked.clone(), |op| op.apply(&acked));
        assert!(
            on_disk.sections == acked.sections || on_disk.sections == after.sections,
            "round {round}: stored_tokens lost an acknowledged write or holds half of one\n on disk {:?}\n acked \
             {:?}\n in flight {inflight:?}",
            on_disk.sections,
            acked.sections
        );
        assert!(
            on_disk.active == acked.active || on_disk.active == after.active,
            "round {round}: the token file is neither the acknowledged one nor the one in flight"
        );
        assert_eq!(on_disk.sections.get(KEEP.0).map(String::as_str), Some(KEEP.1), "round {round}: lost `keep`");
        if inflight.is_some() && on_disk != acked {
            inflight_landed += 1;
        } else if inflight.is_some() {
            inflight_lost += 1;
        }
        let left = leftovers(&home);
        assert!(left.iter().all(|n| !n.contains(".corrupt-")), "round {round}: a backup appeared: {left:?}");
        torn_writes += usize::from(!left.is_empty());
        // Keep this round's files for Python.
        let copy = snapshots.join(format!("{round:03}"));
        std::fs::create_dir_all(&copy).expect("mkdir snapshot");
        for f in ["stored_tokens", "token"] {
            if home.join(f).exists() {
                std::fs::copy(home.join(f), copy.join(f)).expect("copy snapshot");
            }
        }
        if round % PLANT_EVERY == PLANT_EVERY - 1 {
            std::fs::write(home.join(format!("{TEMP_PREFIX}stored_tokens.99999.deadbeef0")), "[half").expect("plant");
            planted += 1;
        }
        model = on_disk;
    }
    eprintln!(
        "crash: {ROUNDS} kill -9 rounds in {:.1?}; {acked_total} acknowledged writes, none lost; the write in flight \
         landed {inflight_landed}x, vanished {inflight_lost}x; temp files left by a kill {torn_writes}x (+{planted} \
         planted), all swept at restart; slowest restart to first answer {first_answer_max:?}",
        started.elapsed()
    );
    assert!(acked_total >= ROUNDS / 10, "too few writes were acknowledged to mean anything: {acked_total}");
    python_reads_every_snapshot(&snapshots, ROUNDS);
    hub.shutdown().await;
}

/// huggingface_hub's own read, `ConfigParser(interpolation=None).read(path, encoding="utf-8")`, over
/// every round's copy, strict (an error is reported, not swallowed), compared with our parser.
fn python_reads_every_snapshot(snapshots: &Path, rounds: usize) {
    let Some(py) = python::python() else { return };
    const CODE: &str = r#"
import configparser, json, os, sys
root = sys.argv[1]
out = {}
for d in sorted(os.listdir(root)):
    path = os.path.join(root, d, "stored_tokens")
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read(path, encoding="utf-8")
        out[d] = {name: dict(config.items(name)).get("hf_token", "") for name in config.sections()}
    except Exception as e:
        out[d] = {"__error__": repr(e)}
print(json.dumps(out))
"#;
    let out = std::process::Command::new(&py)
        .arg("-c")
        .arg(CODE)
        .arg(snapshots)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run python");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_slice(&out.stdout).expect("python's JSON");
    assert_eq!(theirs.len(), rounds);
    for (round, sections) in &theirs {
        assert!(!sections.contains_key("__error__"), "round {round}: configparser refused the file: {sections:?}");
        let path = snapshots.join(round).join("stored_tokens");
        let ours: BTreeMap<String, String> = super::parsed_sections(&std::fs::read(&path).unwrap_or_default())
            .expect("ours parses")
            .into_iter()
            .collect();
        assert_eq!(&ours, sections, "round {round}: configparser and our parser disagree");
    }
    eprintln!("crash: Python's configparser read all {rounds} post-crash files, identical to our parser");
}
