"""The sans-I/O protocol core: frames in, messages and payloads out; no sockets, threads or clocks."""
