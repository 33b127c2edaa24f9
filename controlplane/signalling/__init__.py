"""Signalling: hypervisor messages (gRPC, VDP) decoded into typed requests; no P4 knowledge."""
