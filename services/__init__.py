"""The seven services of the mesh, the pure shared kernel and the shared runtime."""
