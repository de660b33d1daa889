"""Where the daemon listens (proto/src/socket.rs) and whether it may be trusted with a request
(client/src/connect/trust.rs), decided before a byte is sent.

Every request carries secrets (the caller's HF_TOKEN), and without XDG_RUNTIME_DIR the socket
lives in a shared directory (${TMPDIR:-/tmp}/hf-auth-<uid>/) another local user could create
first. So, as ssh-agent's clients do: the socket's directory must be ours alone (owner = our
euid, writable by nobody else, not a symlink: an lstat), and the process listening must run as
our uid or as root (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS).

grpcio cannot adopt a connected socket, so the peer is checked on a probe connection and grpc
then dials the same path. The gap between the two is closed by the directory check: only the
directory's owner (us) or root can replace the socket in it, and a same-uid process is outside
the threat model. The probe is repeated before every call, because grpc reconnects by itself.
"""
import os
import socket
import stat
import struct
import sys

from . import _errors

SOCKET_FILE = "hf-authd.sock"
MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103


def socket_path(env):
    explicit = env.non_empty("HF_AUTH_SOCKET")
    if explicit:
        path = explicit
    elif env.non_empty("XDG_RUNTIME_DIR"):
        path = os.path.join(env.non_empty("XDG_RUNTIME_DIR"), "hf-auth", SOCKET_FILE)
    else:
        tmp = env.non_empty("TMPDIR") or "/tmp"
        path = os.path.join(tmp, f"hf-auth-{os.getuid()}", SOCKET_FILE)
    if not path.startswith("/"):
        raise _errors.HfAuthError(f"socket path {path} must be absolute")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise _errors.HfAuthError(
            f"socket path {path} is too long for a Unix socket (at most {MAX_SOCKET_PATH} bytes). "
            "Set HF_AUTH_SOCKET to a shorter path"
        )
    return path


def check_path(path):
    """The directory is ours alone; raises DaemonNotRunning when there is nothing to talk to."""
    me = os.geteuid()
    directory = os.path.dirname(path) or "/"
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        raise _errors.DaemonNotRunning(path) from None
    if stat.S_ISLNK(st.st_mode):
        raise _errors.UntrustedSocket(path, f"its directory {directory} is a symlink; it must be a directory of your own")
    if not stat.S_ISDIR(st.st_mode):
        raise _errors.UntrustedSocket(path, f"{directory} is not a directory")
    if st.st_uid != me:
        raise _errors.UntrustedSocket(
            path,
            f"its directory {directory} is owned by uid {st.st_uid}, not by you (uid {me}): another user may be "
            "listening there. Remove the directory, or set HF_AUTH_SOCKET or XDG_RUNTIME_DIR to a directory of your own",
        )
    if st.st_mode & 0o022:
        raise _errors.UntrustedSocket(
            path, f"its directory {directory} is writable by others (mode {st.st_mode & 0o7777:o}); chmod 700 it"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise _errors.DaemonNotRunning(path) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise _errors.UntrustedSocket(path, f"{path} is not a socket")


def _peer_uid(sock):
    if hasattr(socket, "SO_PEERCRED"):
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return uid
    if sys.platform == "darwin":
        # struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }
        raw = sock.getsockopt(0, 0x001, 76)  # SOL_LOCAL, LOCAL_PEERCRED
        return struct.unpack_from("2I", raw)[1]
    raise _errors.UntrustedSocket(sock.getpeername(), "the peer's credentials cannot be read on this platform")


def check_peer(path, timeout):
    """Connects once and checks who listens; raises DaemonNotRunning when nobody does."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        try:
            probe.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise _errors.DaemonNotRunning(path) from None
        except OSError as e:
            raise _errors.HfAuthError(f"cannot reach hf-authd at {path}: {e}") from None
        try:
            uid = _peer_uid(probe)
        except OSError as e:
            raise _errors.UntrustedSocket(path, f"the credentials of the process listening on it cannot be read: {e}") from None
        me = os.geteuid()
        if uid not in (me, 0):
            raise _errors.UntrustedSocket(
                path, f"the process listening on it runs as uid {uid}, not as you (uid {me}) or root: another user may be listening there"
            )
    finally:
        probe.close()
