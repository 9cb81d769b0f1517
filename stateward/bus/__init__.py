"""The message bus: one protocol, an in-process and a NATS JetStream implementation."""

from stateward.bus.base import Bus, Handler, Subscription, subject_matches
from stateward.bus.factory import create_bus

__all__ = ["Bus", "Handler", "Subscription", "create_bus", "subject_matches"]
