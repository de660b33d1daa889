//! Copies of files we could not parse, kept beside them before a rewrite (`<name>.corrupt-<time>`,
//! numbered when a second one lands in the same second), and their removal: they hold tokens, so
//! a logout of everything takes them too.

use super::FsError;
use super::walk::{self, Dir};
use super::write::write_in;
use rustix::fs::AtFlags;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What follows the file's name in a backup's name.
const SUFFIX: &str = ".corrupt-";

/// Copies a file that a rewrite would not keep whole (it could not be parsed, or has parts the
/// rewrite drops) next to itself, 0600, and returns the copy's path.
pub fn back_up(path: &Path, bytes: &[u8]) -> Result<PathBuf, FsError> {
    let (dir, name) = open_parent(path)?;
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let mut base = name.to_os_string();
    base.push(format!("{SUFFIX}{stamp}"));
    let mut backup = base.clone();
    let mut n = 1;
    while dir.entry(&backup)?.is_some() {
        backup = base.clone();
        backup.push(format!(".{n}"));
        n += 1;
    }
    write_in(&dir, &backup, bytes)?;
    Ok(dir.path.join(backup))
}

fn open_parent(path: &Path) -> Result<(Dir, &OsStr), FsError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(FsError::IsDirectory { path: path.to_path_buf() });
    };
    Ok((walk::open_dir(parent, true)?, name))
}

/// The backups [`back_up`] made of `path` that are still there (regular files of ours).
pub fn list_backups(path: &Path) -> Result<Vec<PathBuf>, FsError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return Ok(Vec::new()) };
    let dir = match walk::open_dir(parent, false) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(backups_in(&dir, name)?.into_iter().map(|n| dir.path.join(n)).collect())
}

fn backups_in(dir: &Dir, name: &OsStr) -> Result<Vec<OsString>, FsError> {
    let mut prefix = name.as_bytes().to_vec();
    prefix.extend_from_slice(SUFFIX.as_bytes());
    dir.own_files_starting_with(&prefix)
}

/// Removes the backups of `path`; the paths removed.
pub fn remove_backups(path: &Path) -> Result<Vec<PathBuf>, FsError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return Ok(Vec::new()) };
    let dir = match walk::open_dir(parent, false) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for n in backups_in(&dir, name)? {
        let shown = dir.path.join(&n);
        rustix::fs::unlinkat(&dir.fd, n.as_os_str(), AtFlags::empty()).map_err(super::errno_err(&shown))?;
        removed.push(shown);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn backups_never_overwrite_each_other_and_are_removed_together() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("stored_tokens");
        let a = back_up(&p, b"one").unwrap();
        let b = back_up(&p, b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");
        assert_eq!(fs::metadata(&b).unwrap().mode() & 0o7777, 0o600);
        fs::write(t.path().join("stored_tokens.lock"), "").unwrap();
        fs::write(t.path().join("token.corrupt-1"), "another file's").unwrap();
        let mut both = vec![a, b];
        both.sort();
        assert_eq!(list_backups(&p).unwrap(), both);
        assert_eq!(remove_backups(&p).unwrap(), both);
        assert!(list_backups(&p).unwrap().is_empty());
        assert!(t.path().join("stored_tokens.lock").exists() && t.path().join("token.corrupt-1").exists());
        assert!(remove_backups(&t.path().join("missing/stored_tokens")).unwrap().is_empty());
    }
}
