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
