"""The network: the one hardened HTTP client, address vetting, robots.txt."""
