"""moto's server (moto[server]==5.2.5) for the tests, with its SQS queues made thread-safe.

moto serves each request on a thread of its own but changes a queue's messages without a lock:
* ReceiveMessage checks that a message is visible, then marks it received, so two concurrent
  receives can both return the same message;
* DeleteMessage rebuilds the message list and assigns it back, so a concurrent delete (or a new
  message) can undo it: a deleted message reappears, in flight, and is delivered again later.
Real SQS does neither, and the tests of several consumers on one queue rely on that. Here every
change to a queue's messages runs under one lock; the long-poll wait of ReceiveMessage happens
outside it (so waiting receivers do not block the others). Everything else is moto unchanged.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the options of `moto_server`)
"""

import sys
import threading
import time

from moto.server import main
from moto.sqs import models

_lock = threading.RLock()
_receive_once = models.SQSBackend.receive_message


def _locked(method):
    def wrapper(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return wrapper


models.Queue.add_message = _locked(models.Queue.add_message)
models.Queue.delete_message = _locked(models.Queue.delete_message)
models.SQSBackend.change_message_visibility = _locked(models.SQSBackend.change_message_visibility)
models.SQSBackend.purge_queue = _locked(models.SQSBackend.purge_queue)


def _receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                     message_attribute_names=None):
    deadline = time.monotonic() + (wait_seconds_timeout or 0)
    while True:
        with _lock:
            # wait_seconds_timeout=0: one pass over the queue, no waiting.
            result = _receive_once(self, queue_name, count, 0, visibility_timeout,
                                   message_attribute_names)
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(0.02)


models.SQSBackend.receive_message = _receive_message

if __name__ == "__main__":
    sys.exit(main())
