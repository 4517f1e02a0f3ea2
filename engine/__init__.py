"""The core every service shares: ids, text rules, events, ports and adapters."""
