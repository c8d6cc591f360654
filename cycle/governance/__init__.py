"""Who may do what: people and their roles, logins (identity), who may decide a gate (authority), gate requests,
waivers and programme-card milestones."""
