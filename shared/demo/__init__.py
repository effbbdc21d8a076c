"""The demo campaign generator and sample clips."""
