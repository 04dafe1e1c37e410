"""Serving many learners on one engine: a FIFO admission gate in front of the model (queue.py) and the backend
wrapper that applies it once for every feature (queued.py)."""
from tutor.serving.queue import AdmissionGate, GateState, Ticket, make_gate, ordinal, waiting_notice
from tutor.serving.queued import QueuedBackend

__all__ = ["AdmissionGate", "GateState", "QueuedBackend", "Ticket", "make_gate", "ordinal", "waiting_notice"]
