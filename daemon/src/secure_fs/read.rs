//! Reading a home file: resolved under [`super::walk`]'s rules, opened no-follow and
//! non-blocking, and used only when it is a regular file of ours and of a plausible size.

use super::walk;
use super::{FsError, MAX_FILE_BYTES, errno_err, io_err, my_uid};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::io::Read;
use std::path::Path;

/// Reads a small regular file. `Ok(None)` when it (or its directory) does not exist.
pub fn read_small(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    read_owned(path, false)
}

/// Reads a small settings file as UTF-8 text under the same rules, except that root's file is
/// taken too (an administrator's `--config`): a file another user planted is never obeyed.
pub fn read_settings(path: &Path) -> Result<Option<String>, FsError> {
    match read_owned(path, true)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| FsError::NotUtf8 { path: path.to_path_buf(), position: e.utf8_error().valid_up_to() }),
    }
}

fn read_owned(path: &Path, root_ok: bool) -> Result<Option<Vec<u8>>, FsError> {
    let loc = match walk::locate(path, false) {
        Ok(loc) => loc,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(entry) = loc.entry else { return Ok(None) };
    // Checked before opening, so a FIFO, a device or another user's file is never opened.
    check_readable(path, &entry, root_ok)?;
    // O_NONBLOCK: if the entry was swapped for a FIFO since, the open must not hang; O_NOFOLLOW:
    // nor may it follow a link swapped in.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&loc.dir.fd, loc.name.as_os_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(errno_err(&loc.path())(e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(errno_err(path))?;
    check_readable(path, &st, root_ok)?;
    let mut file = std::fs::File::from(fd);
    let mut buf = Vec::with_capacity(st.st_size.max(0) as usize);
    Read::by_ref(&mut file).take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).map_err(io_err(path))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path: path.to_path_buf(), size: buf.len() as u64 });
    }
    Ok(Some(buf))
}

/// A regular file of ours (root included: root's daemon takes no other user's token), not huge.
fn check_readable(path: &Path, st: &Stat, root_ok: bool) -> Result<(), FsError> {
    let path = path.to_path_buf();
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => return Err(FsError::IsDirectory { path }),
        FileType::RegularFile => {}
        _ => return Err(FsError::NotRegular { path }),
    }
    if st.st_uid != my_uid() && !(root_ok && st.st_uid == 0) {
        return Err(FsError::ForeignOwner { path, owner: st.st_uid, me: my_uid() });
    }
    if st.st_size as u64 > MAX_FILE_BYTES {
        return Err(FsError::TooLarge { path, size: st.st_size as u64 });
    }
    Ok(())
}

/// Reads a small file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<Option<String>, FsError> {
    match read_small(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| FsError::NotUtf8 { path: path.to_path_buf(), position: e.utf8_error().valid_up_to() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};

    #[test]
    fn reads_refuse_directories_fifos_and_huge_files() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(read_small(t.path()), Err(FsError::IsDirectory { .. })));
        let fifo = t.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        assert!(matches!(read_small(&fifo), Err(FsError::NotRegular { .. })));
        let big = t.path().join("big");
        File::create(&big).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(read_small(&big), Err(FsError::TooLarge { .. })));
        assert!(read_small(&t.path().join("missing")).unwrap().is_none());
        assert!(read_small(&t.path().join("no/such/dir/token")).unwrap().is_none());
    }

    #[test]
    fn invalid_utf8_names_the_position() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("token");
        fs::write(&p, b"\xff\xfehf").unwrap();
        assert!(matches!(read_text(&p), Err(FsError::NotUtf8 { position: 0, .. })));
    }

    #[test]
    fn reads_follow_our_links_relative_and_absolute_and_through_dot_dot() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("real")).unwrap();
        fs::write(t.path().join("real/token"), "hf_x").unwrap();
        std::os::unix::fs::symlink("real/token", t.path().join("rel")).unwrap();
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("dirlink")).unwrap();
        std::os::unix::fs::symlink("loop", t.path().join("loop")).unwrap();
        assert_eq!(read_small(&t.path().join("rel")).unwrap().unwrap(), b"hf_x");
        assert_eq!(read_small(&t.path().join("dirlink/token")).unwrap().unwrap(), b"hf_x");
        assert_eq!(read_small(&t.path().join("dirlink/../real/token")).unwrap().unwrap(), b"hf_x");
        assert!(matches!(read_small(&t.path().join("loop")), Err(FsError::TooManyLinks { .. })));
    }
}
