"""Reminders: what is due (rules), reminders.toml and the SMTP settings rules (settings), the outbox, the scheduler's
lease, and quarterly review meetings (reviews)."""
