"""Calls to hf-authd over its Unix socket with grpcio: one cached channel per socket path, the
trust checks before every call, bounded timeouts, and the `:authority` h2 accepts.

Why the authority: for a `unix:` target grpcio (1.57+) sends the percent-encoded socket path
as HTTP/2 `:authority`; hyperium/h2, the server side of tonic, rejects it as a malformed
authority and resets the stream (RST_STREAM PROTOCOL_ERROR), so every call fails. Setting
`grpc.default_authority` to `localhost` sends a valid authority instead.
"""
import threading

import grpc

from . import _context, _errors, _socket
from . import _messages as m

CONNECT_TIMEOUT = 2.0
CALL_TIMEOUT = 10.0
HUB_CALL_TIMEOUT = 30.0

CHANNEL_OPTIONS = [
    ("grpc.default_authority", "localhost"),
    ("grpc.max_receive_message_length", m.MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", m.MAX_MESSAGE_BYTES),
]

_lock = threading.Lock()
_channels = {}
_handshaken = set()


def _channel(path):
    with _lock:
        ch = _channels.get(path)
        if ch is None:
            ch = grpc.insecure_channel("unix:" + path, options=CHANNEL_OPTIONS)
            _channels[path] = ch
        return ch


def _drop(path):
    with _lock:
        ch = _channels.pop(path, None)
        _handshaken.discard(path)
    if ch is not None:
        ch.close()


def _unary(ch, name, request, response_cls):
    return ch.unary_unary(m.SERVICE + name, request_serializer=request.__class__.SerializeToString,
                          response_deserializer=response_cls.FromString)


def _map_rpc_error(path, err):
    code = err.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return _errors.DaemonNotRunning(path)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return _errors.HfAuthError(f"hf-authd at {path} did not answer in time")
    return _errors.HfAuthError(f"hf-authd: {err.details()}")


class Connection:
    """A checked connection to the daemon for one environment."""

    def __init__(self, env, connect_timeout=CONNECT_TIMEOUT):
        self.env = env
        self.path = _socket.socket_path(env)
        _socket.check_path(self.path)
        _socket.check_peer(self.path, connect_timeout)
        self.channel = _channel(self.path)
        if self.path not in _handshaken:
            try:
                status = self.call("Status", m.StatusRequest(), m.StatusResponse, timeout=5.0)
            except _errors.HfAuthError:
                _drop(self.path)
                raise
            if status.protocol != m.PROTOCOL_VERSION:
                _drop(self.path)
                raise _errors.HfAuthError(
                    f"hf-authd at {self.path} speaks protocol {status.protocol}, this client speaks "
                    f"{m.PROTOCOL_VERSION}; restart it (`hf-auth daemon restart`)"
                )
            with _lock:
                _handshaken.add(self.path)

    def call(self, name, request, response_cls, timeout=CALL_TIMEOUT):
        try:
            return _unary(self.channel, name, request, response_cls)(request, timeout=timeout)
        except grpc.RpcError as err:
            mapped = _map_rpc_error(self.path, err)
            if isinstance(mapped, _errors.DaemonNotRunning):
                _drop(self.path)
            raise mapped from None

    def stream(self, name, request, response_cls):
        ch = self.channel
        return ch.unary_stream(m.SERVICE + name, request_serializer=request.__class__.SerializeToString,
                               response_deserializer=response_cls.FromString)(request)


_SOURCES = {0: None, 1: "HF_TOKEN", 2: "HUGGING_FACE_HUB_TOKEN", 3: "file", 4: "keyring"}


def resolve(env, repo="", token_name=None, timeout=CALL_TIMEOUT):
    """The daemon's ResolveResponse for this environment (raises DaemonNotRunning)."""
    conn = Connection(env, connect_timeout=min(CONNECT_TIMEOUT, timeout))
    ctx = _context.build(env, repo=repo, token_name=token_name)
    return conn.call("Resolve", m.ResolveRequest(context=ctx), m.ResolveResponse, timeout=timeout)


def source_name(number):
    return _SOURCES.get(number)


def whoami(env, timeout=HUB_CALL_TIMEOUT):
    conn = Connection(env)
    request = m.WhoAmIRequest(context=_context.build(env))
    return conn.call("WhoAmI", request, m.WhoAmIResponse, timeout=timeout)


def watch(env):
    conn = Connection(env)
    return conn.stream("Watch", m.WatchRequest(context=_context.build(env)), m.WatchEvent)
