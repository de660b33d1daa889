//! Planted symlinks and foreign directories (issue 12, item 2). The daemon follows a symlink only
//! where the kernel's `fs.protected_symlinks` rule would let it — a link in a sticky directory that
//! others can write to only when it is ours or the directory owner's — with the sysctl off (it is
//! on this machine) and as root; it never uses a directory of another user (root's aside) or one
//! open to others without the sticky bit. Reads obey the same rules as writes. Real uids throughout:
//! the attacker is `nobody` (setpriv) or a third uid the test chowns to; the daemon and its clients
//! are the real binaries.

use super::{NOBODY, as_nobody, as_nobody_cmd};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::{Run, World, bin};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

const TOKEN: &str = "hf_links_LLLLLLLLLLLLLLLLLLLLLLLLLLLLLL";
/// A third user, neither us nor the attacker; nothing needs to exist for it but the uid.
const THIRD: u32 = 4242;

/// Everything a test needs to see that a file was left alone: bytes, mode, owner, inode.
fn fingerprint(path: &Path) -> (Vec<u8>, u32, u32, u64) {
    let m = std::fs::metadata(path).unwrap();
    (std::fs::read(path).unwrap(), m.mode() & 0o7777, m.uid(), m.ino())
}

fn mkdir(path: &Path, mode: u32, owner: u32) -> PathBuf {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner), Some(owner)).unwrap();
    path.to_path_buf()
}

fn file(path: &Path, contents: &str, mode: u32, owner: u32) -> PathBuf {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner), Some(owner)).unwrap();
    path.to_path_buf()
}

/// A scratch directory everyone may enter (tempdirs are 0700), so `nobody` can reach what is inside.
fn open_scratch() -> tempfile::TempDir {
    let t = tempfile::Builder::new().prefix("hfl").tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    t
}

/// `ln -s target link` run by `nobody` itself, so the link is really theirs.
fn plant_as_nobody(target: &Path, link: &Path) {
    let mut cmd = as_nobody(Path::new("/bin/ln")).expect("root with setpriv (checked by the caller)");
    let out = cmd.arg("-s").arg(target).arg(link).output().unwrap();
    assert!(
        out.status.success(),
        "nobody could not plant {}: {}",
        link.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::symlink_metadata(link).unwrap().uid(), NOBODY);
}

/// A symlink owned by `uid` (made by root, then lchown'd).
fn link_owned_by(target: &Path, link: &Path, uid: u32) {
    std::os::unix::fs::symlink(target, link).unwrap();
    std::os::unix::fs::lchown(link, Some(uid), Some(uid)).unwrap();
}

/// None (skipped) unless root with setpriv; under CI that is an error.
fn root_with_setpriv() -> bool {
    as_nobody(Path::new("/bin/true")).is_some()
}

async fn hub() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_token(TOKEN, Account::user("alice").with_token_name("links", "write"));
    hub
}

/// A root world whose token file is `token_path`.
fn world_with_token_path(hub: &FakeHub, token_path: &Path) -> World {
    let mut w = World::new(&hub.endpoint());
    w.set_env("HF_TOKEN_PATH", token_path);
    w
}

#[track_caller]
fn assert_refused(r: &Run, what: &str, names: &[&str]) {
    let stderr = r.stderr();
    assert_eq!(r.code(), 1, "{what} must be refused: stdout {} stderr {stderr}", r.stdout());
    for n in names {
        assert!(stderr.contains(n), "{what}: the error must name {n:?}: {stderr}");
    }
    assert!(!r.stdout().contains("hf_") && !stderr.contains(TOKEN), "{what}: a token in the output");
}

/// The repro: a root-owned 1777 directory, `nobody` plants `tok` → root's file, root's
/// `HF_TOKEN_PATH` points at `tok`. Neither a read nor a login may go through the link; the victim
/// keeps its bytes, mode and owner. The same for a victim that belongs to a third user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_a_link_another_user_planted_in_a_sticky_directory_is_never_followed() {
    if !root_with_setpriv() {
        return;
    }
    let hub = hub().await;
    let t = open_scratch();
    let shared = mkdir(&t.path().join("shared"), 0o1777, 0);
    let private = mkdir(&t.path().join("root-only"), 0o700, 0);
    let victim = file(&private.join("victim"), "hf_victim_rootsown_VVVVVVVVVVVVVVVVVV\n", 0o600, 0);
    let third_dir = mkdir(&t.path().join("third"), 0o755, 0);
    let third = file(&third_dir.join("token"), "hf_third_users_TTTTTTTTTTTTTTTTTTTTT", 0o644, THIRD);
    for (name, target) in [("tok", &victim), ("tok3", &third)] {
        let link = shared.join(name);
        plant_as_nobody(target, &link);
        let before = fingerprint(target);
        let w = world_with_token_path(&hub, &link);
        let shown = link.display().to_string();
        let read = w.run("hf-auth", &["token"], None).await;
        assert_refused(&read, &format!("{name}: reading through the link"), &[&shown, "uid 65534"]);
        assert!(!read.stdout().contains("victim") && !read.stdout().contains("third"), "{}", read.stdout());
        let login = w.run("hf-auth", &["login", "--token", TOKEN], None).await;
        assert_refused(&login, &format!("{name}: a login through the link"), &[&shown, "uid 65534"]);
        assert_eq!(fingerprint(target), before, "{name}: the victim changed");
        let link_meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(link_meta.file_type().is_symlink() && link_meta.uid() == NOBODY, "{name}: the link was replaced");
        eprintln!("{name}: read and login refused: {}", login.stderr().trim());
    }
    hub.shutdown().await;
}

/// The same with a *directory* link: `nobody` plants `job` → root's real HF home, and root's
/// `HF_HOME` is `job`. The daemon knows a home by its directory's resolved path; resolving it
/// with `canonicalize` once let every read skip the link rule (the token came back) while writes
/// were refused. Reads, listings and writes are all refused now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_a_directory_link_another_user_planted_is_not_followed_to_a_home() {
    if !root_with_setpriv() {
        return;
    }
    let hub = hub().await;
    let t = open_scratch();
    let shared = mkdir(&t.path().join("shared"), 0o1777, 0);
    let real = mkdir(&t.path().join("real-home"), 0o700, 0);
    let victim = file(&real.join("token"), "hf_roots_real_home_RRRRRRRRRRRRRRRRRRRR", 0o600, 0);
    let link = shared.join("job");
    plant_as_nobody(&real, &link);
    let before = fingerprint(&victim);
    let mut w = World::new(&hub.endpoint());
    w.set_env("HF_HOME", &link);
    let shown = link.display().to_string();
    for args in [&["token"][..], &["login", "--token", TOKEN], &["logout"]] {
        let r = w.run("hf-auth", args, None).await;
        assert_refused(&r, &format!("{args:?} with HF_HOME through the link"), &[&shown, "uid 65534"]);
        assert!(!r.stdout().contains("roots_real"), "{args:?}: {}", r.stdout());
    }
    // A listing says why it shows nothing, as for any stored_tokens it cannot read.
    let list = w.run("hf-auth", &["list"], None).await;
    assert!(list.stderr().contains(&shown) && list.stderr().contains("uid 65534"), "{}", list.stderr());
    assert!(!list.stdout().contains("hf_") && !list.stderr().contains("hf_roots"), "{}", list.stdout());
    assert_eq!(fingerprint(&victim), before, "the real home's token changed");
    hub.shutdown().await;
}

/// Links the kernel's rule allows are followed, and a write lands in the link's target (the
/// dotfiles case): one we own in the sticky directory, and one another user owns in a directory
/// that is ours and not sticky.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_links_the_kernel_would_follow_are_followed_and_written_through() {
    if !root_with_setpriv() {
        return;
    }
    let hub = hub().await;
    let t = open_scratch();
    let shared = mkdir(&t.path().join("shared"), 0o1777, 0);
    let dotfiles = mkdir(&t.path().join("dotfiles"), 0o700, 0);
    let ours = mkdir(&t.path().join("ours"), 0o755, 0);
    let cases = [
        ("our link in a sticky directory", shared.join("mine"), dotfiles.join("token-a"), 0),
        ("nobody's link in our own directory", ours.join("tok"), dotfiles.join("token-b"), NOBODY),
    ];
    for (case, link, target, owner) in cases {
        std::fs::write(&target, "hf_old").unwrap();
        link_owned_by(&target, &link, owner);
        let w = world_with_token_path(&hub, &link);
        w.run("hf-auth", &["login", "--token", TOKEN], None).await.ok();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), TOKEN, "{case}: the target holds the token");
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o600, "{case}");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{case}: the link stays");
        let token = w.run("hf-auth", &["token"], None).await.ok();
        assert_eq!(token.stdout().trim(), TOKEN, "{case}: read back through the link");
    }
    hub.shutdown().await;
}

/// A home in another user's directory — directly, or reached through a link of ours — and one in
/// a directory anyone may write to without the sticky bit: refused, and nothing created there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_a_directory_of_another_user_or_open_to_all_is_never_used() {
    if !root_with_setpriv() {
        return;
    }
    let hub = hub().await;
    let t = open_scratch();
    let theirs = mkdir(&t.path().join("theirs"), 0o755, NOBODY);
    let open = mkdir(&t.path().join("open"), 0o777, 0);
    let ours = mkdir(&t.path().join("ours"), 0o755, 0);
    std::os::unix::fs::symlink(&theirs, ours.join("via")).unwrap();
    let theirs_shown = theirs.display().to_string();
    let open_shown = open.display().to_string();
    let cases: [(&str, PathBuf, &[&str]); 4] = [
        ("a token file in their directory", theirs.join("tok"), &[&theirs_shown, "uid 65534"]),
        ("a home below their directory", theirs.join("hf").join("tok"), &[&theirs_shown, "uid 65534"]),
        ("their directory reached through our link", ours.join("via").join("tok"), &[&theirs_shown, "uid 65534"]),
        ("a directory open to all, not sticky", open.join("tok"), &[&open_shown, "without the sticky bit"]),
    ];
    for (case, token_path, names) in cases {
        let w = world_with_token_path(&hub, &token_path);
        let login = w.run("hf-auth", &["login", "--token", TOKEN], None).await;
        assert_refused(&login, case, names);
        for dir in [&theirs, &open] {
            assert_eq!(
                std::fs::read_dir(dir).unwrap().count(),
                0,
                "{case}: something was created in {}",
                dir.display()
            );
        }
        eprintln!("{case}: refused: {}", login.stderr().trim());
    }
    assert_eq!(std::fs::metadata(&open).unwrap().mode() & 0o7777, 0o777, "the open directory kept its mode");
    hub.shutdown().await;
}

/// The daemon as `nobody`, a sticky root-owned directory: root's link (the directory owner's) to
/// nobody's own file is followed, as the kernel would; a third user's link to the same file is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_a_normal_user_the_directory_owners_link_is_followed_and_a_third_users_is_not() {
    if !root_with_setpriv() {
        return;
    }
    let hub = hub().await;
    let t = open_scratch();
    let shared = mkdir(&t.path().join("shared"), 0o1777, 0);
    let home = mkdir(&t.path().join("home"), 0o700, NOBODY);
    let run = mkdir(&home.join("run"), 0o700, NOBODY);
    let hf = mkdir(&home.join("hf"), 0o700, NOBODY);
    let target = file(&home.join("token-file"), "hf_old", 0o600, NOBODY);
    link_owned_by(&target, &shared.join("roots"), 0);
    link_owned_by(&target, &shared.join("thirds"), THIRD);
    let socket = run.join("hf-authd.sock");
    let env = |cmd: &mut std::process::Command, token_path: &Path| {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("HF_HOME", &hf)
            .env("HF_TOKEN_PATH", token_path)
            .env("HF_ENDPOINT", hub.endpoint())
            .env("HF_AUTH_SOCKET", &socket)
            .env("HF_AUTH_NO_AUTOSTART", "1")
            .stdin(Stdio::null());
    };
    let log = t.path().join("daemon.log");
    let mut daemon = as_nobody_cmd(&bin("hf-authd"));
    env(&mut daemon, &target);
    let mut daemon = daemon
        .arg("--socket")
        .arg(&socket)
        .arg("--print-ready")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("ready"), "hf-authd as nobody: {line:?} {}", std::fs::read_to_string(&log).unwrap());
    let cli = |token_path: PathBuf, args: &'static [&'static str]| {
        let mut cmd = as_nobody_cmd(&bin("hf-auth"));
        env(&mut cmd, &token_path);
        cmd.args(args);
        tokio::task::spawn_blocking(move || Run(cmd.output().unwrap()))
    };
    let refused = cli(shared.join("thirds"), &["login", "--token", TOKEN]).await.unwrap();
    let shown = shared.join("thirds").display().to_string();
    assert_refused(&refused, "a third user's link", &[&shown, "uid 4242"]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hf_old", "written through a third user's link");
    cli(shared.join("roots"), &["login", "--token", TOKEN]).await.unwrap().ok();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), TOKEN, "the directory owner's link is followed");
    let token = cli(shared.join("roots"), &["token"]).await.unwrap().ok();
    assert_eq!(token.stdout().trim(), TOKEN);
    let _ = daemon.kill();
    let _ = daemon.wait();
    hub.shutdown().await;
}
