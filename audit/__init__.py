"""Who saw and changed patient data: one append-only trail, written by the services themselves."""
