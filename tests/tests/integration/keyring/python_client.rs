//! Keyring storage without the mirror: no token on disk, so huggingface_hub alone finds nothing.
//! With `hf_auth.install()` the real huggingface_hub 2.4.0 downloads a private file from the fake
//! Hub (`hf_hub_download`, `HfApi.model_info`); without it, or after `uninstall()`, it cannot.
//! The library's hf-hub example gets the keyring-held token the same way.

use super::*;
use hf_auth_tests::fake_hub::Repo;

const CONTENT: &str = "{\"secret_model\": true}\n";

const DOWNLOAD: &str = r#"
import json, sys, huggingface_hub
from huggingface_hub import HfApi, hf_hub_download
import hf_auth

def attempt():
    try:
        path = hf_hub_download("alice/private", "config.json", cache_dir=sys.argv[1], force_download=True)
        return open(path).read()
    except Exception as e:
        return "error: " + type(e).__name__

out = {"disk_token": huggingface_hub.get_token(), "before": attempt()}
hf_auth.install()
hf_auth.install()  # idempotent
out["installed"] = attempt()
out["get_token_is_daemons"] = huggingface_hub.get_token() == hf_auth.get_token()
out["sha"] = HfApi().model_info("alice/private").sha
hf_auth.uninstall()
out["after"] = attempt()
out["after_token"] = huggingface_hub.get_token()
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_lets_huggingface_hub_download_with_no_token_on_disk() {
    if !keyring_session() {
        return;
    }
    let Some(python) = python::python_with_client() else { return };
    let hub = hub().await;
    hub.add_repo("alice/private", Repo::private().file("config.json", CONTENT).readable_by([WORK]));
    let daemon = TestDaemon::start_with(Config { mirror_token_file: false, ..keyring_config() }).await;
    let home = TestHome::new(&hub.endpoint());
    login(&daemon, &home, WORK).await.unwrap();
    assert!(home.token_file().is_none() && files_containing(home.dir.path(), WORK).is_empty());

    let cache = home.dir.path().join("cache").display().to_string();
    let env = [
        ("HOME", home.dir.path().display().to_string()),
        ("HF_HOME", home.hf_home().display().to_string()),
        ("HF_ENDPOINT", hub.endpoint()),
        ("HF_AUTH_SOCKET", daemon.socket.display().to_string()),
    ];
    let (py, code, e) = (python.clone(), format!("import sys; sys.argv[1:] = [{cache:?}]\n{DOWNLOAD}"), env.clone());
    let out = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        python::run_ok(&py, &code, &pairs)
    })
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["disk_token"], serde_json::Value::Null, "huggingface_hub alone found a token");
    assert!(v["before"].as_str().unwrap().starts_with("error: "), "{v}");
    assert_eq!(v["installed"], CONTENT, "{v}");
    assert_eq!(v["get_token_is_daemons"], true);
    assert_eq!(v["sha"].as_str().unwrap().len(), 40);
    assert!(v["after"].as_str().unwrap().starts_with("error: "), "uninstall left the daemon in: {v}");
    assert_eq!(v["after_token"], serde_json::Value::Null);
    assert!(files_containing(home.dir.path(), WORK).is_empty(), "a secret reached the disk");

    // The Rust library's example, with the real hf-hub crate: the keyring-held token too.
    if let Some(example) = crate::clients::example::example() {
        let dest = home.dir.path().join("rust-out");
        let (socket, hf, ep, d) = (daemon.socket.clone(), home.hf_home().to_path_buf(), hub.endpoint(), dest.clone());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(example)
                .args(["alice/private", "config.json"])
                .arg(&d)
                .env_clear()
                .env("HOME", &hf)
                .env("HF_HOME", &hf)
                .env("HF_ENDPOINT", &ep)
                .env("HF_AUTH_SOCKET", &socket)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("Keyring"), "{stderr}");
        assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), CONTENT);
    }
}
