"""Ask hf-authd for your Hugging Face Hub token.

    import hf_auth
    hf_auth.get_token(repo_id="acme/x")    # the token the daemon chooses, or None
    hf_auth.whoami()                       # who it belongs to (cached by the daemon)
    for change in hf_auth.watch(): ...     # token changes, from any writer
    hf_auth.install()                      # make huggingface_hub itself ask the daemon

Every request carries this process's environment and working directory, captured exactly as
the `hf-auth` CLI captures them, so precedence (HF_TOKEN first) and routing are the same.
A daemon that is not running is not an error: `get_token` then falls back to
`huggingface_hub.get_token()` (when installed); pass `require_daemon=True` to raise instead.
"""
import json as _json

from . import _client, _context
from ._errors import DaemonNotRunning, HfAuthError, UntrustedSocket
from ._install import install, installed, uninstall

__version__ = "0.1.0"
__all__ = [
    "DaemonNotRunning",
    "HfAuthError",
    "UntrustedSocket",
    "get_token",
    "install",
    "installed",
    "resolve",
    "uninstall",
    "watch",
    "whoami",
]


def resolve(repo_id=None, repo_type="model", *, token_name=None, timeout=_client.CALL_TIMEOUT):
    """The daemon's full answer as a dict: token, source, name, username, expires_at.

    Raises DaemonNotRunning when no daemon runs (no fallback here).
    """
    env = _context.Env()
    r = _client.resolve(env, repo=_context.repo_string(repo_id, repo_type), token_name=token_name, timeout=timeout)
    return {
        "token": r.token or None,
        "source": _client.source_name(r.source),
        "name": r.name or None,
        "username": r.username or None,
        "expires_at": r.expires_at or None,
    }


def get_token(repo_id=None, repo_type="model", *, token_name=None, require_daemon=False, timeout=_client.CALL_TIMEOUT):
    """The token to use for `repo_id` (of `repo_type` "model", "dataset" or "space"), or None.

    Asks hf-authd; with no daemon running, returns `huggingface_hub.get_token()` (None when
    huggingface_hub is not installed), unless `require_daemon` is set. Other failures (a socket
    that is not yours, a daemon that does not answer within `timeout`) raise HfAuthError.
    """
    try:
        return resolve(repo_id, repo_type, token_name=token_name, timeout=timeout)["token"]
    except DaemonNotRunning:
        if require_daemon:
            raise
        from ._install import original_get_token

        fallback = original_get_token()
        return fallback() if fallback is not None else None


def whoami(*, timeout=_client.HUB_CALL_TIMEOUT):
    """Who the active token belongs to, as a dict (the daemon's cached answer when fresh).

    Needs a daemon: raises DaemonNotRunning without one.
    """
    r = _client.whoami(_context.Env(), timeout=timeout)
    return {
        "name": r.name,
        "fullname": r.fullname or None,
        "email": r.email or None,
        "orgs": [{"name": o.name, "fullname": o.fullname, "role_in_org": o.role_in_org} for o in r.orgs],
        "auth_type": r.auth_type or None,
        "token_name": r.token_display_name or None,
        "token_role": r.token_role or None,
        "source": _client.source_name(r.source),
        "cached": r.cached,
        "stale": r.stale,
        "raw": _json.loads(r.raw_json) if r.raw_json else None,
    }


_KINDS = {0: "unspecified", 1: "snapshot", 2: "active_changed", 3: "stored_changed"}


def watch():
    """Yields a dict per change to this home's tokens, starting with a snapshot.

    Events name tokens (`active_name`), never carry them: call `get_token()` again on each.
    Needs a daemon: raises DaemonNotRunning without one. Closing the generator ends the watch.
    """
    stream = _client.watch(_context.Env())
    try:
        for e in stream:
            yield {
                "kind": _KINDS.get(e.kind, str(e.kind)),
                "token_path": e.token_path,
                "active_name": e.active_name or None,
                "logged_in": e.logged_in,
                "generation": e.generation,
            }
    except _client.grpc.RpcError as err:
        if err.code() != _client.grpc.StatusCode.CANCELLED:
            raise HfAuthError(f"hf-authd: {err.details()}") from None
    finally:
        stream.cancel()
