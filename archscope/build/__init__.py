"""Stage 2, the network: the block registry and its channel/repeat rules, user blocks (plugins), the builder that
turns a ModelSpec into a layer graph on ``meta``, fast meta execution (shape rules), weights for real runs
(materialize) and BatchNorm folding (fuse)."""
