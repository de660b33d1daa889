//! Logout of everything leaves no copy (issue 12, item 8): the `stored_tokens.corrupt-<time>`
//! backups a rewrite of an unparseable file made hold tokens too, so `hf-auth logout` removes them
//! with the files and names each one.

use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::World;

const TOKEN: &str = "hf_backups_BBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn backups(w: &World) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(w.hf_home())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("stored_tokens.corrupt-"))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_of_everything_removes_the_backups_of_stored_tokens_and_says_so() {
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_token_name("fresh", "write"));
    let w = World::new(&hub.endpoint());
    let stored = w.hf_home().join("stored_tokens");
    for n in 0..2 {
        std::fs::write(&stored, format!("[old{n}]\nhf_token = hf_in_a_corrupt_file_{n}\n\n[old{n}]\n")).unwrap();
        let login = w.run("hf-auth", &["login", "--token", TOKEN], None).await.ok();
        assert!(login.stderr().contains("could not be parsed"), "{}", login.stderr());
    }
    let made = backups(&w);
    assert_eq!(made.len(), 2, "two rewrites of a corrupt file, two backups: {made:?}");
    assert!(std::fs::read_to_string(&made[0]).unwrap().contains("hf_in_a_corrupt_file_"));

    let logout = w.run("hf-auth", &["logout"], None).await.ok();
    let said = format!("{}{}", logout.stdout(), logout.stderr());
    assert!(said.contains("Successfully logged out from all access tokens."), "{said}");
    for b in &made {
        assert!(said.contains(&b.display().to_string()), "the message must name {}: {said}", b.display());
    }
    assert_eq!(backups(&w), Vec::<std::path::PathBuf>::new(), "backups left after logout of everything");
    assert!(!stored.exists() && w.token_file().is_none());
    // Nothing else of ours is left holding a token.
    for e in std::fs::read_dir(w.hf_home()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            assert!(!text.contains("hf_"), "{} still holds a token", p.display());
        }
    }
    eprintln!("logout removed {} backups: {}", made.len(), said.trim());
    hub.shutdown().await;
}

/// A hand-written `[DEFAULT]` section: configparser gives its keys to every section, and a
/// rewrite (ours, like huggingface_hub's) writes no `[DEFAULT]`, so a token there that every
/// section overrides would vanish. The rewrite keeps a backup of the file first, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_section_a_rewrite_would_drop_is_backed_up_first() {
    const HIDDEN: &str = "hf_only_in_the_default_section_DDDDDDDDDD";
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_token_name("fresh", "write"));
    let w = World::new(&hub.endpoint());
    let stored = w.hf_home().join("stored_tokens");
    std::fs::write(
        &stored,
        format!("[DEFAULT]\nhf_token = {HIDDEN}\n\n[two]\nhf_token = hf_two_TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT\n"),
    )
    .unwrap();
    let login = w.run("hf-auth", &["login", "--token", TOKEN], None).await.ok();
    let made = backups(&w);
    assert_eq!(made.len(), 1, "one backup: {made:?}\n{}", login.stderr());
    assert!(std::fs::read_to_string(&made[0]).unwrap().contains(HIDDEN), "the backup holds the [DEFAULT] token");
    assert!(login.stderr().contains(&made[0].display().to_string()), "the login names the backup: {}", login.stderr());
    let rewritten = std::fs::read_to_string(&stored).unwrap();
    assert!(rewritten.contains("[fresh]") && rewritten.contains("[two]"), "{rewritten}");
    hub.shutdown().await;
}
