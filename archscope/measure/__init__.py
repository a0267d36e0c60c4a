"""Stage 4b, timed forward passes: the measuring rules (timing) and the runner that times a built model on CPU, CUDA or
MPS beside its analysis."""
