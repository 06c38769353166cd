"""Tests of the offline sandbox."""
