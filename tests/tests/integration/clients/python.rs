//! The Python package `hf_auth` (client/python) and stock gRPC peers, against a real daemon:
//! the token, whoami and watch; the same context the CLI sends; the fallback to
//! huggingface_hub when no daemon runs; the `:authority` a stock grpcio client needs; reflection
//! v1alpha for grpcio-reflection; and the committed descriptor kept current.

use hf_auth_proto::{ClientContext, Env, pb};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use hf_auth_tests::python;
use prost::Message;
use std::path::{Path, PathBuf};

const WORK: &str = "hf_py_client_AAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Runs `code` with this home's environment and socket; returns stdout (panics on failure).
async fn py(python: &Path, home: &TestHome, socket: &Path, code: &str, extra: &[(&str, &str)]) -> String {
    let mut env = vec![
        ("HOME".to_owned(), home.dir.path().display().to_string()),
        ("HF_HOME".to_owned(), home.hf_home().display().to_string()),
        ("HF_ENDPOINT".to_owned(), home.ctx.endpoint.clone()),
        ("HF_AUTH_SOCKET".to_owned(), socket.display().to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let (python, code) = (python.to_path_buf(), code.to_owned());
    tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        python::run_ok(&python, &code, &pairs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_token_whoami_and_watch_against_a_running_daemon() {
    let Some(python) = python::python_with_client() else { return };
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice").with_orgs(["acme"]));
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    home.write_token(WORK.as_bytes());
    let out = py(
        &python,
        &home,
        &daemon.socket,
        r#"
import json, hf_auth
r = hf_auth.resolve()
who = hf_auth.whoami()
w = hf_auth.watch()
first = next(w)
w.close()
print(json.dumps({"token": hf_auth.get_token(require_daemon=True), "source": r["source"],
                  "dataset": hf_auth.get_token(repo_id="acme/x", repo_type="dataset"),
                  "who": who["name"], "orgs": [o["name"] for o in who["orgs"]],
                  "watch": [first["kind"], first["logged_in"]]}))
try:
    hf_auth.get_token(repo_id="acme/x", repo_type="bucket")
except ValueError as e:
    print("bad type:", e)
"#,
        &[],
    )
    .await;
    let mut lines = out.lines();
    let v: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(v["token"], WORK);
    assert_eq!(v["dataset"], WORK);
    assert_eq!(v["source"], "file");
    assert_eq!(v["who"], "alice");
    assert_eq!(v["orgs"], serde_json::json!(["acme"]));
    assert_eq!(v["watch"], serde_json::json!(["snapshot", true]));
    assert!(lines.next().unwrap().starts_with("bad type: Invalid repo type"), "{out}");
}

/// Environments whose context the Python package must build exactly as the Rust client does.
fn context_cases(root: &Path) -> Vec<Vec<(String, String)>> {
    let r = root.display().to_string();
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("XDG_CACHE_HOME", "~/xdg".into())],
        vec![("XDG_CACHE_HOME", format!("{r}/x/"))],
        vec![("HF_HOME", "~/hf".into())],
        vec![("HF_HOME", "$BASE/hf".into()), ("BASE", format!("{r}/b"))],
        vec![("HF_HOME", "${BASE}/hf/$UNSET/${NOPE".into()), ("BASE", r.clone())],
        vec![("HF_HOME", "".into())],
        vec![("HF_TOKEN_PATH", "relative/tok".into())],
        vec![("HF_HOME", "/h".into()), ("HF_TOKEN_PATH", "~/t/my_token".into())],
        vec![("HUGGINGFACE_CO_STAGING", "1".into())],
        vec![("HF_TOKEN", "hf_a".into()), ("HUGGING_FACE_HUB_TOKEN", "hf_leg".into())],
        vec![("HF_TOKEN", "".into()), ("HUGGING_FACE_HUB_TOKEN", "hf_leg".into())],
        vec![("HF_TOKEN", "   ".into())],
        vec![("HF_ENDPOINT", "https://hub.example.com///".into())],
        vec![("HF_HUB_OFFLINE", "".into()), ("TRANSFORMERS_OFFLINE", "yes".into())],
        vec![("HF_HUB_OFFLINE", "0".into()), ("TRANSFORMERS_OFFLINE", "1".into())],
        vec![("HF_DEVICE_CODE_OAUTH_CLIENT_ID", "my-client".into())],
        vec![("HF_AUTH_TOKEN_NAME", "acme-write".into())],
        vec![
            ("HF_OIDC_RESOURCE", "acme/model".into()),
            ("HF_OIDC_ID_TOKEN", "eyJ_id".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://127.0.0.1:1/id".into()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh_bearer".into()),
        ],
        vec![("HF_OIDC_RESOURCE", "acme/model".into()), ("GITHUB_ACTIONS", "false".into())],
    ];
    cases
        .into_iter()
        .map(|pairs| {
            let mut all = vec![("HOME".to_owned(), format!("{r}/home"))];
            all.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
            all
        })
        .collect()
}

#[test]
fn the_python_context_is_the_one_the_cli_sends() {
    let Some(python) = python::python_with_client() else { return };
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path().join("work dir");
    std::fs::create_dir_all(&cwd).unwrap();
    let code = r#"
import sys
from hf_auth import _context
env = _context.Env()
for repo in ["", "spaces/acme/x"]:
    print(_context.build(env, repo=_context.repo_string(repo.split("/", 1)[1] if repo else None,
                                                     "space" if repo else "model")).SerializeToString().hex())
"#;
    for pairs in context_cases(root.path()) {
        let out = std::process::Command::new(&python)
            .arg("-c")
            .arg(code)
            .env_clear()
            .envs(pairs.iter().map(|(k, v)| (k, v)))
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{pairs:?}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        let env = Env::from_pairs(pairs.clone()).with_cwd(&cwd);
        let rust = ClientContext::from_env(&env);
        for expected in [rust.clone().to_pb(), rust.for_repo(Some("spaces/acme/x".into()), Default::default()).to_pb()]
        {
            let hex = lines.next().unwrap();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let theirs = pb::ClientContext::decode(bytes.as_slice()).unwrap();
            assert_eq!(
                (theirs.token_path.as_str(), theirs.stored_tokens_path.as_str()),
                (expected.token_path.as_str(), expected.stored_tokens_path.as_str()),
                "{pairs:?}"
            );
            assert!(theirs == expected, "{pairs:?}: python and rust contexts differ");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_daemon_get_token_falls_back_to_huggingface_hub() {
    let Some(python) = python::python_with_client() else { return };
    let home = TestHome::new("http://127.0.0.1:9");
    home.write_token(WORK.as_bytes());
    let run = home.dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let none = run.join("hf-authd.sock");
    let code = r#"
import hf_auth
print(hf_auth.get_token())
try:
    hf_auth.get_token(require_daemon=True)
except hf_auth.DaemonNotRunning as e:
    print("raised:", e)
"#;
    let out = py(&python, &home, &none, code, &[]).await;
    assert_eq!(out.lines().next(), Some(WORK), "{out}");
    assert!(out.contains("raised: hf-authd is not running"), "{out}");
    let out = py(&python, &home, &none, code, &[("HF_TOKEN", "hf_from_env")]).await;
    assert_eq!(out.lines().next(), Some("hf_from_env"), "{out}");
    // No socket directory at all: the same.
    let out =
        py(&python, &home, &home.dir.path().join("nope/s.sock"), "import hf_auth; print(hf_auth.get_token())", &[])
            .await;
    assert_eq!(out.trim(), WORK);
    assert!(!none.exists(), "the Python client started a daemon");
}

/// The stock grpcio way to call the daemon, with or without the authority option.
const STOCK: &str = r#"
import sys, grpc
from grpc_reflection.v1alpha import reflection_pb2  # any generated module pulls in protobuf
from hf_auth import _messages as m
opts = [("grpc.default_authority", "localhost")] if sys.argv[1] == "with" else []
ch = grpc.insecure_channel("unix:" + sys.argv[2], options=opts)
status = ch.unary_unary("/hfauth.v1.HfAuth/Status", request_serializer=m.StatusRequest.SerializeToString,
                        response_deserializer=m.StatusResponse.FromString)
try:
    print("ok protocol", status(m.StatusRequest(), timeout=10).protocol)
except grpc.RpcError as e:
    print("failed", e.code().name, e.details())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_grpcio_client_needs_the_localhost_authority() {
    let Some(python) = python::python_with_client() else { return };
    let daemon = TestDaemon::start().await;
    let socket = daemon.socket.display().to_string();
    let run = |with: &'static str| {
        let (python, socket) = (python.clone(), socket.clone());
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(python).args(["-c", STOCK, with, &socket]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
    };
    let without = run("without").await.unwrap();
    // h2 resets the stream: RST_STREAM with error code 1 (PROTOCOL_ERROR).
    assert!(without.starts_with("failed INTERNAL") && without.contains("RST_STREAM"), "{without}");
    assert!(without.contains("error code 1"), "{without}");
    assert_eq!(run("with").await.unwrap(), format!("ok protocol {}", hf_auth_proto::PROTOCOL_VERSION));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_reflection_v1alpha_lists_and_describes_the_service() {
    let Some(python) = python::python_with_client() else { return };
    let daemon = TestDaemon::start().await;
    let code = r#"
import sys, grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
ch = grpc.insecure_channel("unix:" + sys.argv[1], options=[("grpc.default_authority", "localhost")])
db = ProtoReflectionDescriptorDatabase(ch)
print(",".join(sorted(db.get_services())))
service = DescriptorPool(db).FindServiceByName("hfauth.v1.HfAuth")
print(",".join(sorted(method.name for method in service.methods)))
"#;
    let socket = daemon.socket.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).args(["-c", code, &socket]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let services = lines.next().unwrap();
    for s in ["hfauth.v1.HfAuth", "grpc.reflection.v1alpha.ServerReflection"] {
        assert!(services.split(',').any(|x| x == s), "{s} missing from {services}");
    }
    let methods = lines.next().unwrap();
    assert!(methods.contains("Resolve") && methods.contains("WhoAmI") && methods.contains("Watch"), "{methods}");
}

#[test]
fn the_committed_descriptor_is_current() {
    let Some(python) = python::python_with_client() else { return };
    let script: PathBuf = python::workspace_root().join("client/python/generate.py");
    let out = std::process::Command::new(python).arg(script).arg("--check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
