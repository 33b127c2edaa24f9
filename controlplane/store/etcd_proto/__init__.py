"""Generated Python code for the subset of etcd's v3 gRPC API that the controller speaks.

`kv.proto` and `rpc.proto` are hand-written subsets of etcd v3.4's protocol (same packages,
names and field numbers); the `*_pb2*` modules are generated from them by
`python tools/gen_etcd_proto.py` and checked by `python tools/gen_etcd_proto.py --check`.
"""
