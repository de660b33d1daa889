"""`install()`: make huggingface_hub itself ask hf-authd, so hf_hub_download, HfApi,
transformers and datasets get the daemon's token even when no token is on disk (keyring
storage without the mirror). `uninstall()` puts huggingface_hub's own function back.

huggingface_hub resolves every implicit token through `huggingface_hub.utils._auth.get_token`,
which other modules import by name (`from ._auth import get_token`). So the replacement goes
into `_auth` first (modules imported later pick it up) and then into every already-imported
huggingface_hub module that holds the original.
"""
import sys
import threading

_lock = threading.Lock()
_original = None


def original_get_token():
    """huggingface_hub's own get_token (not ours), or None when huggingface_hub is missing."""
    if _original is not None:
        return _original
    try:
        from huggingface_hub.utils import _auth
    except ImportError:
        return None
    return _auth.get_token


def _patched_get_token():
    from . import get_token

    return get_token()


def _swap(old, new):
    for name, module in list(sys.modules.items()):
        if (name == "huggingface_hub" or name.startswith("huggingface_hub.")) and module is not None:
            if module.__dict__.get("get_token") is old:
                module.__dict__["get_token"] = new


def install():
    """Route huggingface_hub's token lookups through hf-authd (idempotent)."""
    global _original
    from huggingface_hub.utils import _auth

    with _lock:
        if _original is not None:
            return
        _original = _auth.get_token
        _patched_get_token.__doc__ = _original.__doc__
        _auth.get_token = _patched_get_token
        _swap(_original, _patched_get_token)


def uninstall():
    """Undo install(): huggingface_hub reads its env vars and token file again."""
    global _original
    with _lock:
        if _original is None:
            return
        from huggingface_hub.utils import _auth

        _auth.get_token = _original
        _swap(_patched_get_token, _original)
        _original = None


def installed():
    return _original is not None
