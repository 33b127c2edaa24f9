"""Differential testing of the embedded softswitch against bmv2 simple_switch_grpc.

* ``scenario``: the entries both targets get (port roles, three VNs, VAPs, FDB, ACLs, flooding,
  QoS, punts);
* ``corpus``: a seeded corpus of frames, each tagged with a unique id where it can carry one;
* ``lab``: a private network namespace with veth pairs, raw sockets and bmv2 inside it;
* ``p4rt``: P4Runtime helpers shared by both targets (programming, counters, packet-ins);
* ``runners``: per-frame outputs of the embedded switch and of bmv2;
* ``report``: the comparison and a readable diff of mismatches.
"""
