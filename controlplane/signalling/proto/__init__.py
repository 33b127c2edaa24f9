"""Generated code of nve_signalling.proto (tools/gen_proto.py); do not edit the *_pb2* modules."""
