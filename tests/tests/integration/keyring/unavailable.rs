//! A keyring that cannot be used — locked, or no D-Bus session — fails the operation with a
//! message that says how to fix it, and nothing is ever written in plain text instead.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keyring_fails_clearly_and_writes_no_secret() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let mut w = keyring_world(&hub.endpoint());
    let script = format!(
        "set -u\n\
         {hf} login --token {WORK} >/dev/null 2>&1 || echo LOGIN1-FAILED\n\
         dbus-send --session --dest=org.freedesktop.secrets --print-reply /org/freedesktop/secrets \
           org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null\n\
         {hf} login --token {READ}; echo \"exit=$?\"\n\
         {hf} daemon stop >/dev/null 2>&1\n",
        hf = bin("hf-auth").display()
    );
    let (out, err) = in_own_keyring_session(&mut w, &script).await;
    assert!(!out.contains("LOGIN1-FAILED"), "{out}\n{err}");
    assert!(out.contains("exit=1"), "{out}\n{err}");
    assert!(says_locked(&err), "{err}");
    assert!(files_containing(&w.hf_home(), READ).is_empty(), "a plain-text secret was written");
    assert!(!w.stored_file().unwrap_or_default().contains("read-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_mirror_a_locked_keyring_fails_clearly_then_recovers_once_unlocked() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let mut w = keyring_world(&hub.endpoint());
    let config = w.dir.path().join("config/hf-auth/config.toml");
    std::fs::write(&config, "storage = \"keyring\"\nmirror_token_file = false\n").unwrap();
    // The daemon is restarted after the lock so that it has nothing in memory and must ask the
    // keyring. Unlocking needs a prompt, which a headless session cannot show: the keyring daemon
    // is restarted with the password instead (as a desktop login does), which unlocks the same
    // collection.
    let script = format!(
        "set -u\n\
         {hf} login --token {WORK} >/dev/null 2>&1 || echo LOGIN-FAILED\n\
         {hf} daemon stop >/dev/null 2>&1\n\
         dbus-send --session --dest=org.freedesktop.secrets --print-reply /org/freedesktop/secrets \
           org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null\n\
         {hf} token; echo \"locked-exit=$?\"\n\
         pid=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
           org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets | awk '/uint32/ {{print $2}}')\n\
         kill \"$pid\"; sleep 0.3\n\
         printf %s hf-auth-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null; sleep 0.5\n\
         {hf} token; echo \"unlocked-exit=$?\"\n\
         {hf} logout >/dev/null 2>&1\n\
         {hf} daemon stop >/dev/null 2>&1\n",
        hf = bin("hf-auth").display()
    );
    let (out, err) = in_own_keyring_session(&mut w, &script).await;
    assert!(!out.contains("LOGIN-FAILED"), "{out}\n{err}");
    assert!(out.contains("locked-exit=1"), "{out}\n{err}");
    assert!(says_locked(&err), "{err}");
    assert!(out.contains(&format!("{WORK}\nunlocked-exit=0")), "the next request asks the keyring again: {out}\n{err}");
    assert!(files_containing(&w.hf_home(), WORK).is_empty(), "a plain-text secret was written");
}

/// Runs everywhere: no D-Bus session at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dbus_session_fails_clearly_and_writes_no_secret() {
    let hub = hub().await;
    let mut w = keyring_world(&hub.endpoint());
    w.set_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/hf-auth-test-bus");
    let r = w.run("hf-auth", &["login", "--token", WORK], None).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("The OS keyring is not available: no Secret Service on the session bus (no D-Bus session?)"),
        "{}",
        r.stderr()
    );
    assert!(r.stderr().contains("storage = \"file\""), "{}", r.stderr());
    assert!(files_containing(&w.hf_home(), WORK).is_empty(), "a plain-text secret was written");
    assert!(w.stored_file().is_none() && w.token_file().is_none());
}
