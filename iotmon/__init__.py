"""The `iotmon` command: runs the whole mesh in one process (`up`), one service (`serve`), and dev tools."""
