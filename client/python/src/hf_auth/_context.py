"""The caller's context, exactly as the hf-auth CLI captures it (proto/src/context.rs, paths.rs).

huggingface_hub's file locations (constants.py), ported from the Rust rules rather than calling
os.path.expanduser/expandvars, so the daemon sees the same paths whichever client asks:

    HF_HOME       = expandvars(expanduser(HF_HOME or join(XDG_CACHE_HOME or ~/.cache, "huggingface")))
    HF_TOKEN_PATH = expandvars(expanduser(HF_TOKEN_PATH or join(HF_HOME, "token")))
    stored_tokens = join(dirname(HF_TOKEN_PATH), "stored_tokens")

Relative results are made absolute against the cwd (the daemon runs elsewhere).
"""
import os
import pwd

from . import _messages as m

DEFAULT_ENDPOINT = "https://huggingface.co"
STAGING_ENDPOINT = "https://hub-ci.huggingface.co"
DEFAULT_OAUTH_CLIENT_ID = "26be6b09-91c5-47da-9861-d2d2bb7a7e36"
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _utf8(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:  # surrogate-escaped bytes: the Rust client drops these too
        return False


class Env:
    """A snapshot of an environment: variables, the home directory, the cwd."""

    def __init__(self, environ=None, cwd=None):
        source = os.environ if environ is None else environ
        self.vars = {k: v for k, v in source.items() if _utf8(k) and _utf8(v)}
        home = self.vars.get("HOME") or None
        if home is None and environ is None:
            try:
                home = pwd.getpwuid(os.getuid()).pw_dir
            except KeyError:
                home = None
        self.home = home
        if cwd is None and environ is None:
            try:
                cwd = os.getcwd()
            except OSError:
                cwd = None
        self.cwd = cwd

    def get(self, name):
        return self.vars.get(name)

    def non_empty(self, name):
        return self.vars.get(name) or None


def is_truthy(value):
    return value.upper() in ("1", "ON", "YES", "TRUE")


def _py_join(a, b):
    return f"{a}{b}" if a == "" or a.endswith("/") else f"{a}/{b}"


def _py_dirname(p):
    i = p.rfind("/")
    if i < 0:
        return ""
    head = p[: i + 1]
    trimmed = head.rstrip("/")
    return trimmed if trimmed else head


def expanduser(p, env):
    if not p.startswith("~"):
        return p
    rest = p[1:]
    if not (rest == "" or rest.startswith("/")):
        return p
    if env.home is None:
        return p
    home = env.home.rstrip("/")
    if home == "":
        return rest if rest else "/"
    return home + rest


def expandvars(p, env):
    if "$" not in p:
        return p
    out = []
    i, n = 0, len(p)
    while i < n:
        if p[i] != "$":
            j = p.find("$", i)
            j = n if j < 0 else j
            out.append(p[i:j])
            i = j
            continue
        if i + 1 < n and p[i + 1] == "{":
            close = p.find("}", i + 2)
            if close >= 0:
                name, end = p[i + 2 : close], close + 1
            else:
                name, end = "", i + 1
        else:
            j = i + 1
            while j < n and p[j] in _WORD:
                j += 1
            name, end = p[i + 1 : j], j
        end = max(end, i + 1)
        value = env.get(name) if name else None
        out.append(value if value is not None else p[i:end])
        i = end
    return "".join(out)


def _staging(env):
    v = env.get("HUGGINGFACE_CO_STAGING")
    return v is not None and is_truthy(v)


def _absolute(p, env):
    if p.startswith("/") or env.cwd is None:
        return p
    return os.path.join(env.cwd, p) if p else env.cwd


def home_paths(env):
    """(token, stored_tokens) as huggingface_hub 2.4.0 would use them in this environment."""
    xdg = env.get("XDG_CACHE_HOME")
    cache_home = xdg if xdg is not None else expanduser("~", env) + "/.cache"
    hf_home = env.get("HF_HOME")
    if hf_home is None:
        hf_home = _py_join(cache_home, "huggingface")
    hf_home = expandvars(expanduser(hf_home, env), env)
    token_path = env.get("HF_TOKEN_PATH")
    token = expandvars(expanduser(token_path, env), env) if token_path is not None else _py_join(hf_home, "token")
    stored = _py_join(_py_dirname(token), "stored_tokens")
    if _staging(env):
        token = _py_join(expanduser("~/.cache/huggingface_staging", env), "token")
    return _absolute(token, env), _absolute(stored, env)


def endpoint(env):
    if _staging(env):
        return STAGING_ENDPOINT
    e = env.non_empty("HF_ENDPOINT")
    return e.rstrip("/") if e else DEFAULT_ENDPOINT


def build(env, repo="", access=0, token_name=None):
    """The ClientContext message the CLI would send from this environment."""
    token, stored = home_paths(env)
    ctx = m.ClientContext(token_path=token, stored_tokens_path=stored, endpoint=endpoint(env))
    hf_token = env.non_empty("HF_TOKEN")
    legacy = env.non_empty("HUGGING_FACE_HUB_TOKEN")
    if hf_token is not None:
        ctx.env_token = hf_token
        ctx.env_token_var = m.enum_value("EnvTokenVar", "ENV_TOKEN_VAR_HF_TOKEN")
    elif legacy is not None:
        ctx.env_token = legacy
        ctx.env_token_var = m.enum_value("EnvTokenVar", "ENV_TOKEN_VAR_HUGGING_FACE_HUB_TOKEN")
    offline = env.non_empty("HF_HUB_OFFLINE")
    if offline is None:
        offline = env.get("TRANSFORMERS_OFFLINE")
    ctx.offline = offline is not None and is_truthy(offline)
    ctx.oauth_client_id = env.non_empty("HF_DEVICE_CODE_OAUTH_CLIENT_ID") or DEFAULT_OAUTH_CLIENT_ID
    name = token_name or env.non_empty("HF_AUTH_TOKEN_NAME")
    if name:
        ctx.token_name = name
    if env.cwd:
        ctx.cwd = env.cwd
    ctx.repo = repo or ""
    ctx.access = access
    resource = env.non_empty("HF_OIDC_RESOURCE")
    if resource:
        oidc = m.OidcContext(resource=resource)
        id_token = env.non_empty("HF_OIDC_ID_TOKEN")
        if id_token:
            oidc.id_token = id_token
        if env.get("GITHUB_ACTIONS") == "true":
            url = env.non_empty("ACTIONS_ID_TOKEN_REQUEST_URL")
            bearer = env.non_empty("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            if url and bearer:
                oidc.github_request_url = url
                oidc.github_request_token = bearer
        ctx.oidc.CopyFrom(oidc)
    return ctx


_REPO_PREFIX = {None: "", "model": "", "dataset": "datasets/", "space": "spaces/"}


def repo_string(repo_id, repo_type):
    """huggingface_hub's (repo_id, repo_type) as the context names a repo: acme/x, datasets/acme/x."""
    if repo_id is None:
        return ""
    if repo_type not in _REPO_PREFIX:
        raise ValueError(f"Invalid repo type: {repo_type!r}; expected 'model', 'dataset' or 'space'")
    return _REPO_PREFIX[repo_type] + repo_id
