"""Verification pipelines, executors and result cache (built by the verification issue)."""
