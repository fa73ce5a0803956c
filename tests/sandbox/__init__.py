"""Tests of the local Pipedrive sandbox (pipedrive_connect.sandbox)."""
