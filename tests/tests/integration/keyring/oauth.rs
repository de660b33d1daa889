//! Browser (OAuth) logins in keyring storage: both secrets in one entry, refreshed there.

use super::*;
use hf_auth_tests::fake_hub::{DeviceResponse, RefreshStep, TOKEN, TokenStep};

fn expires_at_of(stored: &str) -> i64 {
    stored.lines().find_map(|l| l.strip_prefix("expires_at = ")).expect("expires_at").parse().expect("an integer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_live_in_the_keyring_and_are_refreshed_there() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    // A browser login whose token expires within the refresh margin: stored, then refreshed.
    hub.set_device_response(DeviceResponse::with_interval(0));
    hub.script_device_flow(vec![TokenStep::Success {
        access_token: "hf_oauth_K1".into(),
        refresh_token: Some("rt_k1".into()),
        expires_in: Some(3600),
    }]);
    hub.script_refresh(vec![RefreshStep::Success {
        access_token: "hf_oauth_K2".into(),
        refresh_token: Some("rt_k2".into()),
        expires_in: 28_800,
    }]);
    let daemon = TestDaemon::start_with(keyring_config()).await;
    let home = TestHome::new(&hub.endpoint());
    let mut c = daemon.client().await;
    let mut events = c.device_login(pb::DeviceLoginRequest { context: home.context() }).await.unwrap().into_inner();
    let mut success = None;
    while let Some(e) = futures_util::StreamExt::next(&mut events).await {
        if let Some(pb::device_login_event::Event::Success(ok)) = e.unwrap().event {
            success = Some(ok);
        }
    }
    let ok = success.expect("the browser login succeeds in keyring mode");
    assert_eq!((ok.token_name.as_str(), ok.storage), ("oauth-alice", pb::Storage::Keyring as i32));

    let refreshed = eventually(Duration::from_secs(10), || async {
        home.token_file().as_deref() == Some(b"hf_oauth_K2".as_slice())
    })
    .await;
    assert!(refreshed.is_some(), "the keyring-held OAuth token was not refreshed");
    let form = hub.last_form(TOKEN).unwrap();
    assert!(form.contains(&("refresh_token".into(), "rt_k1".into())), "refreshed with the keyring's refresh token");
    // The rotated pair is in the one keyring entry; the file keeps only the marker and the expiry.
    assert_eq!(secret_in_keyring(home.hf_home(), "oauth-alice"), Some(("hf_oauth_K2".into(), Some("rt_k2".into()))));
    let file = stored(&home);
    let expires = expires_at_of(&file);
    assert!((expires - refresh_now() - 28_800).abs() <= 5, "{file}");
    // The record of who issued it stays through the refresh (and the migrations below).
    let rec = format!(
        "hf_auth_endpoint = {}\nhf_auth_client_id = {}\n",
        hub.endpoint(),
        hf_auth_proto::context::DEFAULT_OAUTH_CLIENT_ID
    );
    assert_eq!(file, format!("[oauth-alice]\nstorage = keyring\nexpires_at = {expires}\n{rec}\n"));
    for secret in ["rt_k1", "rt_k2", "hf_oauth_K1"] {
        assert!(files_containing(home.dir.path(), secret).is_empty(), "{secret} written in plain text");
    }
    let t = &list(&daemon, &home).await.tokens[0];
    assert_eq!((t.storage, t.refresh_state), (pb::Storage::Keyring as i32, pb::RefreshState::Scheduled as i32));
    assert!(t.active && t.expires_at == expires.to_string());

    // Back to the file: Python's section, key for key; and into the keyring again.
    let r = migrate(&daemon, &home, pb::Storage::File).await;
    assert_eq!((r.moved, r.already), (1, 0));
    assert_eq!(
        stored(&home),
        format!("[oauth-alice]\nhf_token = hf_oauth_K2\nrefresh_token = rt_k2\nexpires_at = {expires}\n{rec}\n")
    );
    assert_eq!(entries_of(home.hf_home()), 0);
    let r = migrate(&daemon, &home, pb::Storage::Keyring).await;
    assert_eq!((r.moved, r.already), (1, 0));
    assert_eq!(stored(&home), file);
    assert_eq!(secret_in_keyring(home.hf_home(), "oauth-alice").unwrap().1.as_deref(), Some("rt_k2"));
    c.logout(pb::LogoutRequest { context: home.context(), token_name: None }).await.unwrap();
    assert_eq!(entries_of(home.hf_home()), 0);
}

fn refresh_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
