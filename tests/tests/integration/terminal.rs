//! `hf-auth` at a terminal: the arrow-key picker and the pasted token read without echo, driven
//! through a real pseudo-terminal (`script` from util-linux) with keys typed one at a time.

use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::{World, bin};
use std::io::Write;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

const ARROW_DOWN: &str = "\x1b[B";

/// Runs `hf-auth <args>` on a pty, typing `keys` (each after a pause), and returns how `script`
/// ended and what the terminal showed; `None` only where `script` is missing (never under CI).
async fn at_terminal(w: &World, args: &str, keys: Vec<&'static str>) -> Option<(ExitStatus, String)> {
    let Some(script) = ["/usr/bin/script", "/bin/script"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        assert!(std::env::var("CI").is_err(), "CI must provide `script` (bsdutils)");
        eprintln!("SKIPPED: no `script`");
        return None;
    };
    let mut cmd = w.command(script);
    cmd.arg("-qec").arg(format!("{} {args}", bin("hf-auth").display())).arg("/dev/null");
    cmd.env("TERM", "xterm").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for key in keys {
            std::thread::sleep(Duration::from_millis(400));
            stdin.write_all(key.as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
        // Keep the terminal open until hf-auth is done: closing it first would end a slow run
        // with a hangup (SIGHUP) rather than let it finish. Bounded, for a run that waits for
        // more keys than it was given.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    Some((out.status, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// `script -e` exits with hf-auth's status (128 + n when a signal n ended it): anything but 0,
/// a signal included, fails the test, with the screen and the signal in the message.
#[track_caller]
fn assert_success(status: ExitStatus, screen: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success(),
        "hf-auth at the terminal ended with {status:?} (signal {:?}):\n{screen}",
        status.signal()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_offers_an_arrow_key_picker() {
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("stored_tokens"), "[a]\nhf_token = hf_a\n\n[b]\nhf_token = hf_b\n\n").unwrap();
    std::fs::write(w.hf_home().join("token"), "hf_a").unwrap();
    let Some((status, screen)) = at_terminal(&w, "switch", vec![ARROW_DOWN, "\r"]).await else { return };
    assert_success(status, &screen);
    assert!(screen.contains("Select a token to switch to"), "{screen}");
    assert_eq!(w.token_file().unwrap(), "hf_b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_asks_for_the_method_and_reads_the_token_without_echo() {
    const SECRET: &str = "hf_PastedAtTheTerminal_123456789";
    let hub = FakeHub::start().await;
    hub.add_token(SECRET, Account::user("alice").with_token_name("pasted", "write"));
    let w = World::new(&hub.endpoint());
    // Second choice (paste), the token and Enter, then "n" to the git question.
    let token_line: &'static str = Box::leak(format!("{SECRET}\r").into_boxed_str());
    let Some((status, screen)) = at_terminal(&w, "login", vec![ARROW_DOWN, "\r", token_line, "n"]).await else {
        return;
    };
    assert_success(status, &screen);
    assert!(screen.contains("How would you like to log in?"), "{screen}");
    assert!(screen.contains("Enter your token (input will not be visible)"), "{screen}");
    assert!(screen.contains("Add token as git credential?"), "{screen}");
    assert!(screen.contains("Login successful."), "{screen}");
    assert!(!screen.contains(SECRET), "the pasted token was echoed:\n{screen}");
    assert_eq!(w.token_file().unwrap(), SECRET);
}
