#!/usr/bin/env python3
"""Roster from Python with grpcio: register, keep the lease with a heartbeat
stream, watch a service with resume, and leave (drain, then deregister).

Generate the stubs next to this file first (README, "A worked example in
Python"), then run:

    python3 roster_example.py --registry 127.0.0.1:7420

It registers echo-1, prints the instances of `echo` as they change, and on
Ctrl-C or SIGTERM marks itself STOPPING and deregisters.
"""
import argparse
import random
import signal
import sys
import threading
import time

import grpc
from google.protobuf.duration_pb2 import Duration
from roster.v1 import registry_pb2 as pb, registry_pb2_grpc as rpc


def connect(address, ttl):
    ping_ms = ttl * 1000 // 6
    return grpc.insecure_channel(address, options=[
        # Ping every TTL/6 with a TTL/6 timeout, so a stalled node is left in
        # time (README "Leave a sick node"): a write that succeeds proves nothing.
        ("grpc.keepalive_time_ms", ping_ms), ("grpc.keepalive_timeout_ms", ping_ms),
        ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
        # grpcio waits up to 120 s between reconnects by default: far past the
        # TTL, so a short outage would cost the lease.
        ("grpc.initial_reconnect_backoff_ms", ping_ms), ("grpc.max_reconnect_backoff_ms", ttl * 1000 // 3)])


def say(*words):
    # One write per line: the heartbeat thread and the watch print concurrently.
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def register(registry, instance, ttl):
    # An upsert: retrying it, or calling it again after NOT_FOUND, is safe.
    reply = registry.Register(pb.RegisterRequest(ttl=Duration(seconds=ttl), **instance), timeout=5)
    say("registered", reply.instance.id, "at revision", reply.revision)


def heartbeat_forever(registry, instance, ttl, stop):
    key = {k: instance[k] for k in ("service", "id")}

    def beats():
        yield pb.HeartbeatRequest(**key)          # the first message names the instance
        while not stop.wait(ttl / 3):
            yield pb.HeartbeatRequest()           # later ones may carry status and load

    backoff = 0.1
    while not stop.is_set():
        opened = time.monotonic()
        try:
            registry.Heartbeat(beats())           # returns when beats() ends: we are leaving
        except grpc.RpcError as e:
            if stop.is_set():
                return
            if time.monotonic() - opened > ttl / 3:
                backoff = 0.1                     # the stream had worked: start the backoff again
            try:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    say("heartbeat: the registry does not know", key["id"], "- registering again")  # expired, or a restart (2.4)
                    register(registry, instance, ttl)
                    continue
                say("heartbeat stream ended:", e.code().name, "- reconnecting")  # the lease lives on meanwhile (2.2)
            except grpc.RpcError:
                pass
            stop.wait(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, ttl / 3)


def watch(registry, service, stop, calls):
    instances, revision = {}, 0
    backoff = 0.1
    while not stop.is_set():
        pending = {} if revision == 0 else None    # a watch from 0 starts with a snapshot
        call = calls["watch"] = registry.Watch(pb.WatchRequest(service=service, start_revision=revision))
        try:
            for ev in call:
                backoff = 0.1
                if ev.type == pb.WATCH_EVENT_TYPE_RESET:
                    say("reset: history gone, a fresh snapshot follows")  # keep serving the old map meanwhile
                    pending = {}
                elif ev.type == pb.WATCH_EVENT_TYPE_SNAPSHOT_COMPLETE:
                    instances, pending = pending, None  # swap in the complete list at once
                    say("snapshot", sorted(instances), "at revision", ev.revision)
                elif ev.type in (pb.WATCH_EVENT_TYPE_ADDED, pb.WATCH_EVENT_TYPE_UPDATED):
                    (pending if pending is not None else instances)[ev.instance.id] = ev.instance
                    if pending is None:
                        say(pb.WatchEventType.Name(ev.type)[len("WATCH_EVENT_TYPE_"):], ev.instance.id, "at revision", ev.revision)
                elif ev.type == pb.WATCH_EVENT_TYPE_REMOVED:
                    instances.pop(ev.instance.id, None)
                    say("REMOVED", ev.instance.id, pb.RemovalReason.Name(ev.reason)[len("REMOVAL_REASON_"):].lower(), "at revision", ev.revision)
                if pending is None:                # changes, markers and PROGRESS: never mid-snapshot,
                    revision = max(revision, ev.revision)  # whose ADDED events carry each instance's own revision
        except grpc.RpcError as e:                 # UNAVAILABLE, RESOURCE_EXHAUSTED, a broken stream
            if stop.is_set():
                return
            say("watch ended:", e.code().name, "- resuming from revision", revision)
            stop.wait(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 5)


def leave(registry, instance, drain_s):
    key = {k: instance[k] for k in ("service", "id")}
    try:
        # STOPPING: still listed, never picked; give callers time to notice, then go.
        registry.Heartbeat(iter([pb.HeartbeatRequest(status=pb.INSTANCE_STATUS_STOPPING, **key)]), timeout=5)
        time.sleep(drain_s)
        registry.Deregister(pb.DeregisterRequest(**key), timeout=5)
        say("deregistered", key["id"])
    except grpc.RpcError as e:
        say("could not deregister:", e.code().name, "- the lease runs out within the TTL")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--registry", default="127.0.0.1:7420")
    p.add_argument("--ttl", type=int, default=10, help="lease in seconds; beats go every TTL/3")
    p.add_argument("--drain", type=float, default=2, help="seconds between STOPPING and Deregister")
    args = p.parse_args()

    channel = connect(args.registry, args.ttl)
    registry = rpc.RegistryServiceStub(channel)
    instance = dict(service="echo", id="echo-1", host="10.0.1.7", port=50051, tags=["v2"])
    stop, calls = threading.Event(), {}

    def on_signal(*_):
        stop.set()
        if "watch" in calls:
            calls["watch"].cancel()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    register(registry, instance, args.ttl)
    beating = threading.Thread(target=heartbeat_forever, args=(registry, instance, args.ttl, stop), daemon=True)
    beating.start()
    watch(registry, instance["service"], stop, calls)
    beating.join()
    leave(registry, instance, args.drain)
    channel.close()


if __name__ == "__main__":
    main()
