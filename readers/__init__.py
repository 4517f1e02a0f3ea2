"""The read API: users, timelines, the follow graph and tweets."""
