"""Pure building blocks every service's domain may use: errors, the caller, pagination, ids.

Nothing here does I/O or imports grpc, so domain packages can depend on it.
"""
