//! Which directories the daemon makes private. It creates missing directories 0700 (at mkdir
//! time, in [`super::walk`]) and, as huggingface_hub does, tightens the HF home itself to 0700 —
//! but only when that directory is ours and not shared: never a sticky directory (`/tmp`, a
//! shared 1777 one), never `/`, `$HOME` or a system directory, whoever owns it. Failures are
//! ignored, as in Python.

use super::walk::{self, Dir};
use super::{FsError, my_uid};
use rustix::fs::Mode;
use std::path::Path;
use std::sync::OnceLock;

const S_ISVTX: u32 = 0o1000;

/// Directories no chmod of ours may touch, even when we own them (as root we own them all).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/dev/shm",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/run/user",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/tmp",
];

/// Creates `dir` and any missing parents with mode 0700 (set at mkdir time, not after), under
/// the same rules as home files (no directory of another user, none open to all).
pub fn create_private_dirs(dir: &Path) -> Result<(), FsError> {
    walk::open_dir(dir, true).map(drop)
}

/// huggingface_hub chmods the token file's directory to 0700; we do so only when [`may_tighten`].
pub(super) fn tighten_home(home: &Dir) {
    if home.created || !may_tighten(home.stat.st_uid, home.stat.st_mode, is_protected(home)) {
        return;
    }
    if let Ok(fd) = home.readable() {
        let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
    }
}

/// Ours, not sticky, not a protected directory, and not already 0700.
fn may_tighten(owner: u32, mode: u32, protected: bool) -> bool {
    owner == my_uid() && mode & S_ISVTX == 0 && mode & 0o7777 != 0o700 && !protected
}

/// `/`, a system directory, `$HOME` or the account's home in the password database.
fn is_protected(dir: &Dir) -> bool {
    let id = (dir.stat.st_dev, dir.stat.st_ino);
    if system_dirs().contains(&id) {
        return true;
    }
    let env_home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    [env_home, passwd_home(my_uid())].into_iter().flatten().any(|h| identity(&h) == Some(id))
}

fn system_dirs() -> &'static [(u64, u64)] {
    static IDS: OnceLock<Vec<(u64, u64)>> = OnceLock::new();
    IDS.get_or_init(|| SYSTEM_DIRS.iter().filter_map(|p| identity(Path::new(p))).collect())
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::stat(path).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// The home directory of `uid` in `/etc/passwd` (the daemon may run with `HOME` unset or changed).
fn passwd_home(uid: u32) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse() == Ok(uid)).then(|| fields[5].into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::ours_and_open(0o40755, false, true)]
    #[case::already_private(0o40700, false, false)]
    #[case::sticky_shared(0o41777, false, false)]
    #[case::sticky_ours(0o41700, false, false)]
    #[case::protected(0o40755, true, false)]
    fn what_may_be_tightened(#[case] mode: u32, #[case] protected: bool, #[case] expected: bool) {
        assert_eq!(may_tighten(my_uid(), mode, protected), expected);
        assert!(!may_tighten(my_uid() + 1, mode, protected), "never another user's");
    }

    #[test]
    fn system_directories_and_home_are_protected() {
        for p in ["/", "/tmp", "/etc", "/usr"] {
            let dir = walk::open_dir(Path::new(p), false).unwrap();
            assert!(is_protected(&dir), "{p}");
        }
        let t = tempfile::tempdir().unwrap();
        assert!(!is_protected(&walk::open_dir(t.path(), false).unwrap()));
    }

    #[test]
    fn create_private_dirs_makes_0700_dirs() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        create_private_dirs(&t.path().join("a/b")).unwrap();
        assert_eq!(std::fs::metadata(t.path().join("a/b")).unwrap().mode() & 0o7777, 0o700);
    }
}
