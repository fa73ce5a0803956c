"""`pipedrive-connect replicate`: copy a Pipedrive account into a database (see docs/replicate.md)."""
