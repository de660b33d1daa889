//! Writing and removing home files through directory handles: a temp file made `O_EXCL` (0600)
//! in the target's directory, fsync, `renameat` over the target, fsync the directory. A write
//! through a symlink the rules let us follow lands in the link's target, as huggingface_hub's
//! does (a rename over the link would replace a user's dotfiles link with a file); an entry that
//! is another user's is never replaced or removed, not even by root.

use super::walk::{self, Dir, Located};
use super::{FsError, TEMP_PREFIX, dirs, errno_err, io_err, my_uid};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Atomically replaces `path` with `contents`, mode 0600, creating missing directories 0700.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), FsError> {
    let loc = walk::locate(path, true)?;
    check_replaceable(path, &loc)?;
    dirs::tighten_home(&loc.home);
    write_in(&loc.dir, &loc.name, contents)
}

/// Would a write or a removal of `path` be allowed? Checked for every file of an update before
/// the first is written, so a refused one leaves the others unchanged too.
pub fn check_target(path: &Path) -> Result<(), FsError> {
    match walk::locate(path, false) {
        Ok(loc) => check_replaceable(path, &loc),
        // A missing directory will be created by us: nothing there yet to refuse.
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending (a log), creating it 0600: resolved under the walk's rules (no
/// link another user planted in a sticky directory, no directory of theirs), and used only when it
/// is a regular file of ours — never another user's file made there first, which would hand them
/// what we write.
pub fn open_append(path: &Path) -> Result<std::fs::File, FsError> {
    let loc = walk::locate(path, false)?;
    let target = loc.path();
    let base = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let name = loc.name.as_os_str();
    let fd =
        match rustix::fs::openat(&loc.dir.fd, name, base | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                rustix::fs::openat(&loc.dir.fd, name, base, Mode::empty()).map_err(errno_err(&target))?
            }
            Err(e) => return Err(errno_err(&target)(e)),
        };
    let st = rustix::fs::fstat(&fd).map_err(errno_err(&target))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(FsError::NotRegular { path: target });
    }
    check_owned(&target, &st)?;
    Ok(std::fs::File::from(fd))
}

/// Never replace a directory, or another user's file (their tokens would become unreadable to
/// them, and as root we would take the file from them).
fn check_replaceable(path: &Path, loc: &Located) -> Result<(), FsError> {
    match &loc.entry {
        None => Ok(()),
        Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            Err(FsError::IsDirectory { path: path.to_path_buf() })
        }
        Some(st) => check_owned(&loc.path(), st),
    }
}

fn check_owned(path: &Path, st: &Stat) -> Result<(), FsError> {
    if st.st_uid != my_uid() {
        return Err(FsError::ForeignOwner { path: path.to_path_buf(), owner: st.st_uid, me: my_uid() });
    }
    Ok(())
}

/// Writes `name` in `dir` atomically (temp file, fsync, rename, fsync the directory).
pub(super) fn write_in(dir: &Dir, name: &OsStr, contents: &[u8]) -> Result<(), FsError> {
    let target = dir.path.join(name);
    let (tmp_name, fd) = create_temp(dir, name)?;
    let tmp_path = dir.path.join(&tmp_name);
    let result = (|| {
        let mut file = std::fs::File::from(fd);
        file.write_all(contents).map_err(io_err(&tmp_path))?;
        file.sync_all().map_err(io_err(&tmp_path))?;
        drop(file);
        rustix::fs::renameat(&dir.fd, tmp_name.as_os_str(), &dir.fd, name).map_err(errno_err(&target))?;
        // The rename is durable only once the directory entry is.
        if let Ok(d) = dir.readable() {
            let _ = rustix::fs::fsync(&d);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(&dir.fd, tmp_name.as_os_str(), AtFlags::empty());
    }
    result
}

fn create_temp(dir: &Dir, name: &OsStr) -> Result<(OsString, OwnedFd), FsError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut attempt = 0u32;
    loop {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let mut tmp = OsString::from(TEMP_PREFIX);
        tmp.push(name);
        tmp.push(format!(".{}.{nonce:08x}{attempt}", std::process::id()));
        match rustix::fs::openat(&dir.fd, tmp.as_os_str(), flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((tmp, fd)),
            Err(Errno::EXIST) if attempt < 16 => attempt += 1,
            Err(e) => return Err(errno_err(&dir.path.join(&tmp))(e)),
        }
    }
}

/// Removes `path` if present (huggingface_hub's `unlink(missing_ok=True)`): the entry itself, a
/// symlink included (not its target), but not a link planted by another user in a shared
/// sticky directory, nor another user's file.
pub fn remove_if_exists(path: &Path) -> Result<bool, FsError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(FsError::IsDirectory { path: path.to_path_buf() });
    };
    let dir = match walk::open_dir(parent, false) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    let Some(st) = dir.entry(name)? else { return Ok(false) };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => return Err(FsError::IsDirectory { path: path.to_path_buf() }),
        FileType::Symlink => walk::check_link(&dir, name, &st)?,
        _ => check_owned(path, &st)?,
    }
    match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(errno_err(path)(e)),
    }
}

/// Our temp files in `dir`: regular files of ours named with [`TEMP_PREFIX`].
fn temp_files(dir: &Dir) -> Vec<OsString> {
    dir.own_files_starting_with(TEMP_PREFIX.as_bytes()).unwrap_or_default()
}

/// Does `dir` hold temp files of ours (a crash's leftovers, or a write in flight)?
pub fn has_temp_files(dir: &Path) -> bool {
    walk::open_dir(dir, false).is_ok_and(|d| !temp_files(&d).is_empty())
}

/// Removes temp files a crash left in `dir` (only ours: they carry [`TEMP_PREFIX`]). Call it
/// holding the home's lock, so no writer's temp file is in flight.
pub fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(d) = walk::open_dir(dir, false) else { return 0 };
    temp_files(&d).iter().filter(|n| rustix::fs::unlinkat(&d.fd, n.as_os_str(), AtFlags::empty()).is_ok()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn write_secret_creates_private_dirs_and_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("a/b/token");
        write_secret(&path, b"hf_x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hf_x");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&t.path().join("a")), 0o700);
        assert_eq!(mode(&t.path().join("a/b")), 0o700);
    }

    #[test]
    fn write_secret_tightens_an_existing_home_and_replaces_a_loose_file() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("hf");
        fs::create_dir(&home).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        let path = home.join("token");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_secret(&path, b"new").unwrap();
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(&home).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn write_secret_writes_through_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real_token");
        fs::write(&real, "old").unwrap();
        let link = t.path().join("token");
        symlink(&real, &link).unwrap();
        write_secret(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
        // A dangling link is written through too (Python's open() creates the target).
        fs::remove_file(&real).unwrap();
        write_secret(&link, b"again").unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"again");
    }

    /// Root only (these tests run as root in CI): links and entries owned by another uid.
    fn chown_works() -> bool {
        let root = rustix::process::geteuid().is_root();
        assert!(root || std::env::var("CI").is_err(), "CI runs the unit tests as root");
        root
    }

    #[test]
    fn a_link_another_user_planted_in_a_shared_sticky_dir_is_neither_followed_nor_removed() {
        if !chown_works() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let victim = t.path().join("victim");
        fs::write(&victim, "mine").unwrap();
        let link = shared.join("tok");
        symlink(&victim, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        for e in [
            write_secret(&link, b"hf_x").unwrap_err(),
            check_target(&link).unwrap_err(),
            remove_if_exists(&link).unwrap_err(),
            super::super::read_small(&link).unwrap_err(),
            super::super::lock_exclusive(&link, std::time::Duration::from_millis(10)).unwrap_err(),
        ] {
            assert!(matches!(e, FsError::PlantedSymlink { owner: 65534, dir_owner: 0, .. }), "{e}");
        }
        assert_eq!(fs::read(&victim).unwrap(), b"mine");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        // Another user's file, even as root: not replaced, not removed.
        let theirs = t.path().join("theirs");
        fs::write(&theirs, "theirs").unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert!(matches!(write_secret(&theirs, b"x"), Err(FsError::ForeignOwner { owner: 65534, .. })));
        assert!(matches!(remove_if_exists(&theirs), Err(FsError::ForeignOwner { owner: 65534, .. })));
        assert_eq!(fs::metadata(&theirs).unwrap().uid(), 65534);
    }

    #[test]
    fn sweep_removes_only_our_temp_files() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(format!("{TEMP_PREFIX}token.1.2")), "x").unwrap();
        fs::write(t.path().join("token"), "x").unwrap();
        assert!(has_temp_files(t.path()));
        assert_eq!(sweep_temp_files(t.path()), 1);
        assert!(!has_temp_files(t.path()));
        assert!(t.path().join("token").exists());
    }
}
