"""Email and scheduling for cycle: reminders, outbox, scheduler (see the reminders issue)."""
