"""What a Serve replica listens on: its inter-deployment gRPC server on this node's address only.

Ray 2.60 starts that server on every interface, hard-coded (`ray/serve/_private/replica.py`,
`add_port_to_grpc_server(self._server, "[::]:0")`, in `_on_initialized`, which runs after the
deployment's constructor). Routers reach a replica at its node's address (`RunningReplicaInfo.node_ip`),
so binding that address alone changes nothing for them: on a local instance (`cluster.start_local`)
it is 127.0.0.1, on a cluster the node's cluster address. Each deployment calls
`bind_to_node_address()` first thing in its constructor. If a Ray upgrade moves the call, the patch
finds nothing to patch and says so in the replica's log (tests/test_ray.py checks the sockets).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_EVERY_INTERFACE = "[::]:"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def bind_to_node_address() -> str | None:
    """Make this replica's inter-deployment gRPC server bind the node's address instead of every
    interface; returns that address (None when this Ray has no such call to redirect)."""
    import ray
    from ray.serve._private import replica

    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None:
        log.warning("ray.serve._private.replica has no add_port_to_grpc_server: its listener is Ray's default")
        return None
    node = ray.util.get_node_ip_address()
    if getattr(original, "bound_to", None) == node:
        return node

    def bound(server, address: str):
        if address.startswith(_EVERY_INTERFACE):
            address = f"{_host(node)}:{address[len(_EVERY_INTERFACE):]}"
        return original(server, address)

    bound.bound_to = node  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = bound
    return node
