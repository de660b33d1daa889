//! `mirror_token_file = false`: only the active token's name on disk; Resolve reads the keyring.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_mirror_no_secret_is_on_disk_and_resolve_reads_the_keyring() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let config = Config { mirror_token_file: false, ..keyring_config() };
    let daemon = TestDaemon::start_with(config.clone()).await;
    let home = TestHome::new(&hub.endpoint());
    let active_file = home.hf_home().join(".hf-auth-active");
    let active_name = || std::fs::read_to_string(&active_file).ok();
    let no_plain_text =
        || files_containing(home.dir.path(), WORK).is_empty() && files_containing(home.dir.path(), READ).is_empty();
    let kr = pb::TokenSource::Keyring;

    login(&daemon, &home, WORK).await.unwrap();
    login(&daemon, &home, READ).await.unwrap();
    assert!(home.token_file().is_none(), "no token file without the mirror");
    assert_eq!(active_name().as_deref(), Some("read-token"));
    assert!(no_plain_text(), "a secret was written in plain text");
    let r = resolve(&daemon, &home).await;
    assert_eq!((r.token.as_str(), r.name.as_str(), r.source), (READ, "read-token", kr as i32));

    // Switch changes only the name.
    let mut c = daemon.client().await;
    c.switch(pb::SwitchRequest { context: home.context(), token_name: "work-token".into() }).await.unwrap();
    assert_eq!(active_name().as_deref(), Some("work-token"));
    assert_eq!(resolved(&daemon, &home).await, (WORK.to_owned(), kr));
    assert!(home.token_file().is_none() && no_plain_text());
    let l = list(&daemon, &home).await;
    assert_eq!(l.tokens.iter().filter(|t| t.active).map(|t| t.name.as_str()).collect::<Vec<_>>(), ["work-token"]);
    let st = c.status(pb::StatusRequest { context: home.context() }).await.unwrap().into_inner();
    assert_eq!(
        (st.active_source, st.active_storage, st.active_name.as_str()),
        (kr as i32, pb::Storage::Keyring as i32, "work-token")
    );

    // A daemon with nothing in memory finds the active token in the keyring by its name.
    let fresh = TestDaemon::start_with(config.clone()).await;
    assert_eq!(resolved(&fresh, &home).await, (WORK.to_owned(), kr));
    drop(fresh);

    // Turning the mirror off later: the token file an earlier (mirroring) daemon wrote is
    // replaced by the name as soon as a daemon without the mirror opens the home.
    let other = TestHome::new(&hub.endpoint());
    let mirroring = TestDaemon::start_with(keyring_config()).await;
    login(&mirroring, &other, WORK).await.unwrap();
    assert_eq!(other.token_file().unwrap(), WORK.as_bytes());
    mirroring.stop().await.unwrap(); // not just signalled: a mirroring daemon would restore the file
    let fresh = TestDaemon::start_with(config).await;
    resolve(&fresh, &other).await;
    let unmirrored = eventually(Duration::from_secs(5), || async {
        other.token_file().is_none() && resolved(&fresh, &other).await == (WORK.to_owned(), kr)
    })
    .await;
    assert!(
        unmirrored.is_some(),
        "the plain-text copy stayed: token file {:?}, resolved {:?}",
        other.token_file().map(|t| t.len()),
        resolved(&fresh, &other).await.1
    );
    assert_eq!(std::fs::read_to_string(other.hf_home().join(".hf-auth-active")).unwrap(), "work-token");
    let mut f = fresh.client().await;
    f.logout(pb::LogoutRequest { context: other.context(), token_name: None }).await.unwrap();
    drop(fresh);

    // What the warning says: huggingface_hub finds no token.
    if let Some(seen) = python_get_token(home.hf_home()) {
        assert_eq!(seen, "None");
    }

    // A token file written by another program (huggingface_hub's login) wins while it exists.
    home.write_token(b"hf_python_login");
    let file_wins = eventually(Duration::from_secs(5), || async {
        resolved(&daemon, &home).await == ("hf_python_login".to_owned(), pb::TokenSource::File)
    })
    .await;
    assert!(file_wins.is_some());
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    let back =
        eventually(Duration::from_secs(5), || async { resolved(&daemon, &home).await == (WORK.to_owned(), kr) }).await;
    assert!(back.is_some(), "the keyring token is active again");

    // Logging out of the active token leaves nobody active.
    let r = c
        .logout(pb::LogoutRequest { context: home.context(), token_name: Some("work-token".into()) })
        .await
        .unwrap()
        .into_inner();
    assert!(r.active_deleted);
    assert_eq!(active_name(), None);
    assert_eq!(resolved(&daemon, &home).await, (String::new(), pb::TokenSource::None));

    // To the file and back: the token file holds the active token exactly while the secrets are in the file.
    c.switch(pb::SwitchRequest { context: home.context(), token_name: "read-token".into() }).await.unwrap();
    migrate(&daemon, &home, pb::Storage::File).await;
    assert_eq!(home.token_file().unwrap(), READ.as_bytes());
    assert_eq!(active_name(), None);
    let r = migrate(&daemon, &home, pb::Storage::Keyring).await;
    assert!(!r.token_file_mirrored);
    assert!(home.token_file().is_none() && no_plain_text());
    assert_eq!(active_name().as_deref(), Some("read-token"));
    assert_eq!(resolved(&daemon, &home).await, (READ.to_owned(), kr));
    c.logout(pb::LogoutRequest { context: home.context(), token_name: None }).await.unwrap();
    assert_eq!((entries_of(home.hf_home()), active_name()), (0, None));
}
