"""Rate limits: strategies (token bucket) over storage (memory now; Redis for many nodes)."""
