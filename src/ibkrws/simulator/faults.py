"""Runtime fault switches of the simulator (``sim.faults``).

Two kinds of controls, both usable from any thread while the simulator runs:

* **switches** are attributes: set them and the next frame, tick or request obeys. Values are
  checked on assignment (wrong type or value -> ``TypeError``/``ValueError`` naming what is
  accepted).
* **actions** are methods that make something happen once (drop the sockets, lose the brokerage
  session, send a raw frame...). They are applied on the simulator's event loop; when called from
  another thread they return once applied, so a test can act on the effect right away.

The full list with what each does is in ``docs/simulator.md`` and on each attribute below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, overload

T = TypeVar("T")

UPGRADE_MODES = ("accept", "hang", "refuse")


class _Switch(Generic[T]):
    """A checked attribute: type (and optional value) validated on every assignment."""

    def __init__(self, default: T, doc: str, *, choices: tuple[str, ...] = ()) -> None:
        self.default = default
        self.kind = type(default)
        self.choices = choices
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type) -> _Switch[T]: ...
    @overload
    def __get__(self, obj: object, objtype: type) -> T: ...
    def __get__(self, obj: object | None, objtype: type) -> _Switch[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: Any) -> None:
        if self.kind is bool:
            if not isinstance(value, bool):
                raise TypeError(f"faults.{self.name} takes True or False, not {value!r}")
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"faults.{self.name} takes a number of seconds >= 0, not {value!r}")
            value = float(value)
        elif self.choices and value not in self.choices:
            raise ValueError(f"faults.{self.name} takes one of {', '.join(map(repr, self.choices))}, not {value!r}")
        obj.__dict__[self.name] = value


class FaultActions(Protocol):
    """What the running simulator provides to carry out fault actions (see ``server.py``)."""

    def drop_connections(self, code: int, reason: str) -> None: ...
    def reset_connections(self) -> None: ...
    def lose_auth(self) -> None: ...
    def restore_auth(self) -> None: ...
    def compete(self) -> None: ...
    def send_raw(self, payload: bytes, binary: bool | None) -> None: ...


class Faults:
    """The fault switches and actions of one simulator. See the module docstring."""

    # ---- WebSocket output ----------------------------------------------------------------------
    heartbeats = _Switch(True, "False: no `system` heartbeat frames; the socket stays open and data flows.")
    data = _Switch(True, "False: data frames (smd, smh, sbd, sor, str, spl, ssd, sld) are discarded while "
                   "heartbeats and replies continue; True resumes with fresh deltas.")
    stall = _Switch(False, "True: a silent stall. Nothing at all is sent on any socket (no heartbeats, data, "
                    "replies or pongs), frames are discarded; the sockets stay open. False resumes.")
    text_frames = _Switch(False, "True: frames go out with the text opcode instead of binary (the default).")
    non_utf8 = _Switch(False, "True: company names on sor and str frames carry a raw 0x99 byte (cp1252 '™'), "
                       "making the frame invalid UTF-8.")
    # ---- subscriptions ---------------------------------------------------------------------------
    require_second_request = _Switch(False, "True: the first subscribe request of each channel on a connection "
                                     "is silently ignored; the second one starts it.")
    confirmation_delay = _Switch(0.0, "Seconds by which the first message of every new subscription is delayed.")
    topic_unknown = _Switch(False, "True: every command except tic/ech is answered with "
                            "{\"error\":\"Topic unknown '<3 chars>'\",\"code\":1} and ignored.")
    no_accounts = _Switch(False, "True: brokerage subscriptions (smd smh sbd sor str) are answered with "
                          "{\"error\":\"No accounts\",\"code\":500,\"topic\":\"<cmd>\"} and not started.")
    # ---- connect / REST --------------------------------------------------------------------------
    ws_upgrade = _Switch("accept", "'accept' (normal), 'hang' (accept TCP and the HTTP request but never answer "
                         "the upgrade) or 'refuse' (answer the upgrade with HTTP 503).", choices=UPGRADE_MODES)
    rest_delay = _Switch(0.0, "Seconds every REST response is delayed.")
    rest_429 = _Switch(False, "True: every REST request is answered 429 Too Many Requests.")
    ssodh_restores = _Switch(True, "False: POST iserver/auth/ssodh/init (and iserver/reauthenticate) no longer "
                             "restore a lost brokerage session.")

    def __init__(self, actions: Callable[[], FaultActions | None]) -> None:
        self._actions = actions

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and not isinstance(getattr(type(self), name, None), _Switch):
            raise AttributeError(f"faults has no switch {name!r}; switches: {', '.join(self.switches())}")
        super().__setattr__(name, value)

    def _do(self) -> FaultActions:
        actions = self._actions()
        if actions is None:
            raise RuntimeError("the simulator is not running; start it before using fault actions")
        return actions

    def reset(self) -> None:
        """Every switch back to its default."""
        for name, attr in type(self).__dict__.items():
            if isinstance(attr, _Switch):
                self.__dict__.pop(name, None)

    def switches(self) -> dict[str, object]:
        """Current value of every switch, by name."""
        return {name: getattr(self, name) for name, attr in type(self).__dict__.items() if isinstance(attr, _Switch)}

    # ---- actions ---------------------------------------------------------------------------------
    def drop_connections(self, code: int = 1000, reason: str = "") -> None:
        """Close every open WebSocket with a close frame carrying ``code`` (e.g. 1000, 1001, 1011)."""
        if isinstance(code, bool) or not isinstance(code, int) or not (1000 <= code <= 4999):
            raise ValueError(f"close code must be an int in 1000..4999, not {code!r}")
        if len(reason.encode()) > 123:
            raise ValueError("close reason must be at most 123 bytes")
        self._do().drop_connections(code, reason)

    def reset_connections(self) -> None:
        """Abort every open WebSocket with a TCP reset: no close frame, no FIN handshake."""
        self._do().reset_connections()

    def lose_auth(self) -> None:
        """Brokerage session lost: ``sts`` split into ``{"authenticated":false}``, ``{"competing":false}``,
        ``{"message":""}``; brokerage subscriptions stop; REST auth status false. No message on recovery."""
        self._do().lose_auth()

    def restore_auth(self) -> None:
        """Brokerage session back (REST only: auth status true again, no WebSocket message)."""
        self._do().restore_auth()

    def compete(self) -> None:
        """Competing session: ``sts`` frames ``authenticated:false``, ``competing:true``, ``message:""``;
        brokerage subscriptions stop; REST reports ``competing:true`` until restored."""
        self._do().compete()

    def send_raw(self, payload: bytes | str, binary: bool | None = None) -> None:
        """Send ``payload`` as is on every greeted socket (``binary`` None: the current opcode mode)."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        self._do().send_raw(data, binary)

    def send_malformed_json(self) -> None:
        """Send a truncated JSON frame on every greeted socket."""
        self.send_raw(b'{"topic":"smd+265598","conid":265598,"31":"271.5')

    def send_non_utf8(self) -> None:
        """Send a notification frame whose text contains a raw 0x99 byte (invalid UTF-8)."""
        self.send_raw(b'{"topic":"ntf","args":{"id":"SIM_NON_UTF8","text":"IBKR Pro\x99 notice",'
                      b'"title":"Info","url":"https://interactivebrokers.com/"}}')
