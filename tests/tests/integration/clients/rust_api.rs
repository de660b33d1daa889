//! The `hf-auth` crate's API for other Rust tools: daemon first, huggingface_hub's env/file
//! order when none runs (never starting one unasked), a foreign socket an error (never a silent
//! fallback), whoami and watch; blocking and async forms.

use hf_auth::api::{Error, HfAuth, Source};
use hf_auth::connect::ConnectError;
use hf_auth_proto::{Env, EnvVar, pb};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const WORK: &str = "hf_api_work_AAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn env(home: &TestHome, socket: &Path, extra: &[(&str, &str)]) -> Env {
    let mut pairs = vec![
        ("HOME".to_owned(), home.dir.path().display().to_string()),
        ("HF_HOME".to_owned(), home.hf_home().display().to_string()),
        ("HF_ENDPOINT".to_owned(), home.ctx.endpoint.clone()),
        ("HF_AUTH_SOCKET".to_owned(), socket.display().to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::from_pairs(pairs).with_cwd(home.dir.path())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_first_then_the_fallback_when_none_runs() {
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice"));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(WORK.as_bytes());

    let auth = HfAuth::new(env(&home, &daemon.socket, &[]));
    let r = auth.token().await.unwrap().expect("a token");
    assert_eq!((r.token.expose(), r.source, r.from_daemon), (WORK, Source::File, true));
    assert!(!format!("{r:?}").contains(WORK), "Debug shows the token");
    // The blocking twin, from a plain thread.
    let blocking = auth.clone();
    let r = tokio::task::spawn_blocking(move || blocking.token_blocking()).await.unwrap().unwrap().unwrap();
    assert_eq!((r.token.expose(), r.from_daemon), (WORK, true));
    let who = auth.whoami().await.unwrap();
    assert_eq!(who.name, "alice");

    // No daemon at this socket: huggingface_hub's order, and nothing started.
    let gone = home.dir.path().join("run").join("none.sock");
    std::fs::create_dir_all(gone.parent().unwrap()).unwrap();
    std::fs::set_permissions(gone.parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let auth = HfAuth::new(env(&home, &gone, &[]));
    let r = auth.token().await.unwrap().expect("the file's token");
    assert_eq!((r.token.expose(), r.source, r.from_daemon), (WORK, Source::File, false));
    let legacy = HfAuth::new(env(&home, &gone, &[("HUGGING_FACE_HUB_TOKEN", " hf_legacy \n")]));
    let r = legacy.token().await.unwrap().unwrap();
    assert_eq!((r.token.expose(), r.source), ("hf_legacy", Source::Env(EnvVar::HuggingFaceHubToken)));
    let strict = auth.clone().fallback(false);
    let e = strict.token().await.unwrap_err();
    assert!(e.is_no_daemon(), "{e}");
    assert!(matches!(auth.whoami().await, Err(e) if e.is_no_daemon()));
    assert!(!gone.exists(), "the library started a daemon unasked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_in_a_directory_open_to_others_is_an_error_not_a_fallback() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    home.write_token(WORK.as_bytes());
    let dir = daemon.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = HfAuth::new(env(&home, &daemon.socket, &[])).token().await;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(matches!(r, Err(Error::Connect(ConnectError::Untrusted { .. }))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_a_change_made_by_another_writer() {
    let daemon = TestDaemon::start().await;
    let home = TestHome::new("http://127.0.0.1:9");
    home.write_token(WORK.as_bytes());
    let auth = HfAuth::new(env(&home, &daemon.socket, &[]));
    let mut events = Box::pin(auth.watch().await.unwrap());
    use tokio_stream::StreamExt;
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.kind, pb::watch_event::Kind::Snapshot as i32);
    assert!(first.logged_in);
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    let change =
        tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("an event").unwrap().unwrap();
    assert_eq!(change.kind, pb::watch_event::Kind::ActiveChanged as i32);
    assert!(!change.logged_in);
}
