"""dingtalk provider package: one file per capability (webhook, oauth, normalise, tools)."""
