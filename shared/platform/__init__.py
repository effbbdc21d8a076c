"""What every capability runs on: context, settings, events, topics, leases, runtime."""
