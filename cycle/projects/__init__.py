"""Projects: what changes them (engine: create, set, advance, evidence, decisions, contracts), and how they read
(views)."""
