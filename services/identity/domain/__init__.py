"""Users and their rules, in plain Python: no I/O, no grpc, no protobuf, no boto."""
