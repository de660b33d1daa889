//! The clients carry what routes a request (issue 13): `[[route]]` rules in config.toml choose
//! the token for a repo, `--token-name`/`token_name=`/`HF_AUTH_TOKEN_NAME` choose one by name.
//! These tests expect the daemon to honour them; they fail until routing lands in the daemon.

use super::example::{CONTENT, example};
use hf_auth_tests::fake_hub::{Account, FakeHub, Repo};
use hf_auth_tests::procs::World;
use hf_auth_tests::python;

const ACME: &str = "hf_acme_write_AAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PERSONAL: &str = "hf_personal_PPPPPPPPPPPPPPPPPPPPPPPPPPPPP";

/// Two stored tokens, `personal` active, and a rule sending `acme/*` to `acme-write`.
fn world(endpoint: &str) -> World {
    let w = World::new(endpoint);
    std::fs::write(
        w.hf_home().join("stored_tokens"),
        format!("[acme-write]\nhf_token = {ACME}\n\n[personal]\nhf_token = {PERSONAL}\n\n"),
    )
    .unwrap();
    std::fs::write(w.hf_home().join("token"), PERSONAL).unwrap();
    let config = w.dir.path().join("config").join("hf-auth");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[[route]]\ntoken = \"acme-write\"\nrepos = [\"acme/*\"]\n").unwrap();
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_repo_and_token_name_choose_the_token() {
    let w = world("http://127.0.0.1:9");
    let show = ["sh", "-c", "printf %s \"$HF_TOKEN\""];
    let run = |extra: &'static [&'static str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(&show);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    for (extra, expected) in [
        (&[][..], PERSONAL),
        (&["--repo", "acme/x"][..], ACME),
        (&["--repo", "someone/else"][..], PERSONAL),
        (&["--token-name", "acme-write"][..], ACME),
    ] {
        let args = run(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = w.run("hf-auth", &args, None).await.ok();
        assert_eq!(r.stdout(), expected, "{extra:?}: {}", r.stderr());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_get_token_honours_repo_rules_and_names() {
    let Some(py) = python::python_with_client() else { return };
    let w = world("http://127.0.0.1:9");
    w.run("hf-auth", &["daemon", "start"], None).await.ok();
    let code = r#"
import hf_auth
print(hf_auth.get_token())
print(hf_auth.get_token(repo_id="acme/x"))
print(hf_auth.get_token(repo_id="someone/else"))
print(hf_auth.get_token(token_name="acme-write"))
"#;
    let r = w.run_program(&py, &["-c", code], None).await.ok();
    assert_eq!(r.stdout().lines().collect::<Vec<_>>(), [PERSONAL, ACME, PERSONAL, ACME], "{}", r.stderr());
    let mut named = w.command(&py);
    named.env("HF_AUTH_TOKEN_NAME", "acme-write").args(["-c", "import hf_auth; print(hf_auth.get_token())"]);
    let out = named.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ACME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hf_hub_example_gets_the_routed_token_for_its_repo() {
    let Some(example) = example() else { return };
    let hub = FakeHub::start().await;
    hub.add_token(ACME, Account::user("alice").with_orgs(["acme"]));
    hub.add_token(PERSONAL, Account::user("alice"));
    hub.add_repo("acme/private", Repo::private().file("config.json", CONTENT).readable_by([ACME]));
    let w = world(&hub.endpoint());
    w.run("hf-auth", &["daemon", "start"], None).await.ok();
    let dest = w.dir.path().join("out");
    let mut cmd = w.command(example);
    cmd.args(["acme/private", "config.json"]).arg(&dest);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), CONTENT);
}
