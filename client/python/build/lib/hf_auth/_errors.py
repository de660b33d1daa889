"""What can go wrong when asking the daemon. A daemon that is not running is the one failure
the public calls absorb (they fall back) unless asked to raise."""


class HfAuthError(Exception):
    """hf-authd could not answer: refused, timed out, or answered with an error."""


class DaemonNotRunning(HfAuthError):
    """No daemon listens on the socket (it is safe to start one, or to fall back)."""

    def __init__(self, socket):
        super().__init__(f"hf-authd is not running (socket {socket})")
        self.socket = socket


class UntrustedSocket(HfAuthError):
    """The socket or the process behind it is not the user's own: nothing was sent."""

    def __init__(self, socket, reason):
        super().__init__(f"refusing to use the hf-authd socket {socket}: {reason}")
        self.socket = socket
        self.reason = reason
