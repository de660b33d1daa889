//! Which directories the daemon chmods (issue 12, item 3): only those it created and the HF home
//! itself when that is the user's own and not shared — never a sticky directory (a root-owned
//! 1777 one, as `/tmp` is), never `$HOME`. The files it writes are 0600 wherever they land.

use super::as_nobody;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::World;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const TOKEN: &str = "hf_modes_MMMMMMMMMMMMMMMMMMMMMMMMMMMMMM";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_a_shared_sticky_directory_and_home_keep_their_modes_and_the_hf_home_is_tightened() {
    if as_nobody(Path::new("/bin/true")).is_none() {
        return;
    }
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_token_name("modes", "write"));
    let t = tempfile::tempdir().unwrap();
    let shared = t.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mut w = World::new(&hub.endpoint());
    std::fs::set_permissions(w.hf_home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(w.home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // huggingface_hub keeps `stored_tokens` (and its lock) beside the token file, so each case
    // writes all three into the directory under test.
    let cases = [
        ("a root-owned 1777 directory", Some(shared.join("tok")), shared.clone(), 0o1777),
        ("a directory we create in it", Some(shared.join("new").join("sub").join("tok")), shared.join("new"), 0o700),
        ("$HOME", Some(w.home().join("tok")), w.home(), 0o755),
        ("the HF home, ours and not shared", None, w.hf_home(), 0o700),
    ];
    for (case, token_path, dir, expected) in cases {
        match &token_path {
            Some(p) => w.set_env("HF_TOKEN_PATH", p),
            None => w.unset_env("HF_TOKEN_PATH"),
        }
        let token_path = token_path.unwrap_or_else(|| w.hf_home().join("token"));
        w.run("hf-auth", &["login", "--token", TOKEN], None).await.ok();
        assert_eq!(std::fs::read_to_string(&token_path).unwrap(), TOKEN, "{case}");
        let here = token_path.parent().unwrap();
        assert_eq!(mode(&token_path), 0o600, "{case}: the token file");
        assert_eq!(mode(&here.join("stored_tokens")), 0o600, "{case}: stored_tokens");
        // The lock file is huggingface_hub's: 0664, a plain file.
        let lock = here.join("stored_tokens.lock");
        assert_eq!(mode(&lock), 0o664, "{case}: the lock file");
        assert!(std::fs::symlink_metadata(&lock).unwrap().file_type().is_file());
        assert_eq!(mode(&dir), expected, "{case}: {} now has mode {:o}", dir.display(), mode(&dir));
        eprintln!("{case}: {} has mode {:o}", dir.display(), mode(&dir));
    }
    assert_eq!(mode(&shared.join("new").join("sub")), 0o700, "created directories are private");
    hub.shutdown().await;
}
