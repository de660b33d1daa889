//! The daemon's socket directory: created 0700 at mkdir time if missing; otherwise it must be a
//! real directory (not a symlink), owned by us, and closed to group and others. The socket in it
//! is made 0600 right after bind.

use super::{FsError, io_err, my_uid};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Makes a just-bound socket usable by its owner only (0600). Call it only for a socket inside a
/// directory [`prepare_socket_dir`] checked: until this runs, the socket has the umask's mode,
/// and only that directory keeps others out.
pub fn make_socket_private(socket: &Path) -> Result<(), FsError> {
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600)).map_err(io_err(socket))
}

/// Prepares the socket directory: created 0700 at mkdir time if missing; otherwise it must be a
/// real directory (not a symlink), owned by us, and closed to group and others.
pub fn prepare_socket_dir(dir: &Path) -> Result<(), FsError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Lost a race with another starter: check what it made.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(dir)(e)),
            }
            check_socket_dir(dir)
        }
        Err(e) => Err(io_err(dir)(e)),
        Ok(_) => check_socket_dir(dir),
    }
}

fn check_socket_dir(dir: &Path) -> Result<(), FsError> {
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    let unsafe_dir = |problem: &str| FsError::Unsafe { path: dir.to_path_buf(), problem: problem.to_owned() };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("the socket directory is a symlink"));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("the socket directory is not a directory"));
    }
    if meta.uid() != my_uid() {
        return Err(unsafe_dir(&format!("the socket directory is owned by uid {}", meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(unsafe_dir(&format!("the socket directory has mode {:o}; it must be 0700", meta.mode() & 0o7777)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn socket_dir_rules() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("hf-auth");
        prepare_socket_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(prepare_socket_dir(&dir), Err(FsError::Unsafe { .. })));
        let link = t.path().join("link");
        let real = t.path().join("real");
        fs::DirBuilder::new().mode(0o700).create(&real).unwrap();
        symlink(&real, &link).unwrap();
        assert!(matches!(prepare_socket_dir(&link), Err(FsError::Unsafe { .. })));
    }
}
