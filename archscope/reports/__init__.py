"""The typed, versioned results (profile and bench reports) and their JSON schema I/O. Plain data: no torch,
no models; everything after the analysis works on these."""
