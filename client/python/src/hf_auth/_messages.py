"""The hfauth.v1 message classes, built at import time from the committed descriptor.

A private descriptor pool: loading another copy of the same .proto elsewhere in the process
(a user's own generated stubs) cannot clash with ours.
"""
from google.protobuf import descriptor_pool, message_factory

from . import _descriptor

_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(_descriptor.SERIALIZED)


def _message(name):
    desc = _pool.FindMessageTypeByName("hfauth.v1." + name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(_pool).GetPrototype(desc)  # pragma: no cover


def enum_value(enum, name):
    return _pool.FindEnumTypeByName("hfauth.v1." + enum).values_by_name[name].number


def enum_name(enum, number):
    values = _pool.FindEnumTypeByName("hfauth.v1." + enum).values_by_number
    return values[number].name if number in values else str(number)


ClientContext = _message("ClientContext")
OidcContext = _message("OidcContext")
ResolveRequest = _message("ResolveRequest")
ResolveResponse = _message("ResolveResponse")
WhoAmIRequest = _message("WhoAmIRequest")
WhoAmIResponse = _message("WhoAmIResponse")
WatchRequest = _message("WatchRequest")
WatchEvent = _message("WatchEvent")
StatusRequest = _message("StatusRequest")
StatusResponse = _message("StatusResponse")

SERVICE = "/hfauth.v1.HfAuth/"
# hf_auth_proto::PROTOCOL_VERSION, copied by generate.py (its --check keeps it current).
PROTOCOL_VERSION = _descriptor.PROTOCOL_VERSION
# hf_auth_proto::MAX_MESSAGE_BYTES.
MAX_MESSAGE_BYTES = 64 * 1024
