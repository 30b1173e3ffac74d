"""The feed-polling benchmark: a seeded corpus, a loopback server, and a runner (issue 6)."""
