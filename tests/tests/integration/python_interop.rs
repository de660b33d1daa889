//! Both directions on the same files, against the real huggingface_hub 2.4.0: what our store
//! writes Python reads exactly, what Python writes we read exactly, the same operations give the
//! same bytes, and concurrent writers of both kinds under the shared lock lose no section.

use hf_auth_proto::{HomePaths, Token};
use hf_auth_tests::python;
use hf_authd::store::disk::{self, token_section};
use hf_authd::store::ops;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn paths(dir: &Path) -> HomePaths {
    HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") }
}

fn env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![("HF_HOME", dir.display().to_string()), ("HOME", dir.display().to_string())]
}

fn py(python: &PathBuf, dir: &Path, code: &str) -> String {
    let env = env(dir);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    python::run_ok(python, code, &pairs)
}

const PY_VIEW: &str = r#"
import json
from huggingface_hub.utils._auth import get_token, get_stored_tokens, _read_stored_tokens_full
print(json.dumps({"token": get_token(), "stored": get_stored_tokens(), "full": _read_stored_tokens_full()}))
"#;

#[test]
fn what_we_write_python_reads() {
    let Some(python) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    ops::save(&p, token_section("work-token", &Token::new("hf_work_AAAA"), None, None)).unwrap();
    ops::save(&p, token_section("🤗 laptop", &Token::new("hf_uni_BBBB"), None, None)).unwrap();
    ops::save(&p, token_section("we[ir]d = name", &Token::new("hf_odd_CCCC"), None, None)).unwrap();
    ops::save_and_activate(
        &p,
        token_section("oauth-alice", &Token::new("hf_oauth_DDDD"), Some("rt_1"), Some(1797921368)),
    )
    .unwrap();
    let view: Value = serde_json::from_str(&py(&python, dir.path(), PY_VIEW)).unwrap();
    // refresh: the token is far from expiry, so Python does not try to refresh it.
    assert_eq!(view["token"], "hf_oauth_DDDD");
    assert_eq!(view["stored"]["work-token"], "hf_work_AAAA");
    assert_eq!(view["stored"]["🤗 laptop"], "hf_uni_BBBB");
    assert_eq!(view["stored"]["we[ir]d = name"], "hf_odd_CCCC");
    assert_eq!(view["full"]["oauth-alice"]["refresh_token"], "rt_1");
    assert_eq!(view["full"]["oauth-alice"]["expires_at"], "1797921368");
    assert_eq!(view["stored"].as_object().unwrap().len(), 4);
}

#[test]
fn what_python_writes_we_read() {
    let Some(python) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    py(
        &python,
        dir.path(),
        r#"
from huggingface_hub.utils._auth import _save_token
from huggingface_hub._login import _set_active_token
_save_token("hf_a_1111", "a")
_save_token("hf_b_2222", "b", refresh_token="rt_b", expires_at=1797921368)
_save_token("hf_c_3333", "my laptop token")
_set_active_token("b", add_to_git_credential=False)
"#,
    );
    let snap = disk::read(&paths(dir.path()));
    assert_eq!(snap.stored.problem, None);
    assert_eq!(snap.active.clone().unwrap().unwrap().expose(), "hf_b_2222");
    let names: Vec<&str> = snap.stored.file.names().collect();
    assert_eq!(names, ["a", "b", "my laptop token"]);
    let b = snap.stored.file.get("b").unwrap();
    assert_eq!(b.get("refresh_token"), Some("rt_b"));
    assert_eq!(b.get("expires_at"), Some("1797921368"));

    // Python's logout of one name and its switch, then we read again.
    py(
        &python,
        dir.path(),
        r#"
from huggingface_hub._login import _logout_from_token, auth_switch
_logout_from_token("a")
auth_switch("my laptop token")
"#,
    );
    let snap = disk::read(&paths(dir.path()));
    assert_eq!(snap.stored.file.names().collect::<Vec<_>>(), ["b", "my laptop token"]);
    assert_eq!(snap.active.unwrap().unwrap().expose(), "hf_c_3333");
}

/// The same sequence through Python and through our store gives identical bytes.
#[test]
fn same_operations_same_bytes() {
    let Some(python) = python::python() else { return };
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    // A foreign file to start from: comments, uppercase keys, ':' delimiter, extra keys, unsorted.
    let seed = b"# my comment\n[b]\nHF_TOKEN: hf_b\nfoo = bar\n[a]\nhf_token=hf_a\n";
    for d in [ours.path(), theirs.path()] {
        std::fs::write(d.join("stored_tokens"), seed).unwrap();
    }
    py(
        &python,
        theirs.path(),
        r#"
from huggingface_hub.utils._auth import _save_token
from huggingface_hub._login import _set_active_token, _logout_from_token, auth_switch
_save_token("hf_c", "c")
_save_token("hf_multi\nline", "multi")
_save_token("hf_pct%value", "pct%name")
_save_token("hf_o", "oauth-x", refresh_token="rt", expires_at=1797921368)
_save_token("hf_o2", "oauth-x")
_set_active_token("c", add_to_git_credential=False)
_logout_from_token("a")
auth_switch("b")
"#,
    );
    let p = paths(ours.path());
    ops::save(&p, token_section("c", &Token::new("hf_c"), None, None)).unwrap();
    ops::save(&p, token_section("multi", &Token::new("hf_multi\nline"), None, None)).unwrap();
    ops::save(&p, token_section("pct%name", &Token::new("hf_pct%value"), None, None)).unwrap();
    ops::save(&p, token_section("oauth-x", &Token::new("hf_o"), Some("rt"), Some(1797921368))).unwrap();
    ops::save(&p, token_section("oauth-x", &Token::new("hf_o2"), None, None)).unwrap();
    // File sections only: the keyring is never asked.
    let vault = hf_authd::store::keyring::Vault::default();
    let kr = vault.keyring(&p, hf_authd::store::keyring::KeyringSettings::default());
    ops::activate(&p, "c", &kr).unwrap();
    ops::logout_one(&p, "a", &kr).unwrap();
    ops::activate(&p, "b", &kr).unwrap();
    for file in ["stored_tokens", "token"] {
        let a = std::fs::read(ours.path().join(file)).unwrap();
        let b = std::fs::read(theirs.path().join(file)).unwrap();
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{file} differs");
    }
}

/// Our writers and Python writers holding huggingface_hub's lock (`WeakFileLock` on
/// `stored_tokens.lock`) lose no section when they all write at once.
#[test]
fn concurrent_writers_under_the_shared_lock_lose_nothing() {
    let Some(python) = python::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = paths(dir.path());
    std::fs::create_dir_all(dir.path()).unwrap();
    let env = env(dir.path());
    let mut children = Vec::new();
    for proc in 0..4 {
        let code = format!(
            r#"
from huggingface_hub import constants
from huggingface_hub.utils._auth import _save_token
from huggingface_hub.utils._fixes import WeakFileLock
for i in range(15):
    with WeakFileLock(constants.HF_STORED_TOKENS_PATH + ".lock"):
        _save_token(f"hf_py_{proc}_{{i}}", f"py-{proc}-{{i}}")
"#
        );
        let mut cmd = std::process::Command::new(&python);
        cmd.arg("-c").arg(code).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.env("HF_HUB_DISABLE_UPDATE_CHECK", "1");
        children.push(cmd.spawn().unwrap());
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    let name = format!("rs-{t}-{i}");
                    ops::save(&p, token_section(&name, &Token::new(format!("hf_rs_{t}_{i}")), None, None)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let snap = disk::read(&p);
    assert_eq!(snap.stored.problem, None);
    assert_eq!(snap.stored.file.sections.len(), 120, "every section of every writer survives");
}

mod cli {
    //! The two CLIs on one home, with the daemon already running: each sees the other's changes at once.
    use hf_auth_tests::fake_hub::{Account, FakeHub};
    use hf_auth_tests::procs::World;
    use hf_auth_tests::python;

    const A: &str = "hf_interop_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const B: &str = "hf_interop_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hf_auth_and_python_hf_agree_both_ways() {
        let Some(hf) = python::hf_cli() else { return };
        let Some(py) = python::python() else { return };
        let hub = FakeHub::start().await;
        hub.add_token(A, Account::user("alice").with_token_name("token-a", "write"));
        hub.add_token(B, Account::user("bob").with_token_name("token-b", "read"));
        let w = World::new(&hub.endpoint());
        w.run("hf-auth", &["status"], None).await.ok();

        // Ours → Python: the token and the list.
        w.run("hf-auth", &["login", "--token", A], None).await.ok();
        let r =
            w.run_program(&py, &["-c", "from huggingface_hub import get_token; print(get_token())"], None).await.ok();
        assert_eq!(r.stdout().trim(), A);
        let r = w.run_program(&hf, &["auth", "list"], None).await.ok();
        assert!(r.stdout().contains("* token-a hf_****AAAA"), "{}", r.stdout());

        // Python → ours, with the daemon already running.
        w.run_program(&hf, &["auth", "login", "--token", B], None).await.ok();
        let r = w.run("hf-auth", &["token"], None).await.ok();
        assert_eq!(r.stdout().trim(), B);
        let r = w.run("hf-auth", &["list"], None).await.ok();
        assert_eq!(
            r.stdout(),
            "  name    token      \n- ------- -----------\n  token-a hf_****AAAA\n* token-b hf_****BBBB\n"
        );
        w.run_program(&hf, &["auth", "switch", "--token-name", "token-a"], None).await.ok();
        let r = w.run("hf-auth", &["token"], None).await.ok();
        assert_eq!(r.stdout().trim(), A);
        w.run_program(&hf, &["auth", "logout", "--token-name", "token-a"], None).await.ok();
        let r = w.run("hf-auth", &["token"], None).await;
        assert_eq!(r.code(), 1, "Python logged out the active token: {}", r.stdout());
        let r = w.run("hf-auth", &["list"], None).await.ok();
        assert!(r.stdout().contains("  token-b hf_****BBBB") && !r.stdout().contains("token-a"), "{}", r.stdout());
    }
}
