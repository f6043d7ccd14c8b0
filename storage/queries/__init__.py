"""Read-side queries (listing, lookups, scans); the write path lives in storage.job_store."""
