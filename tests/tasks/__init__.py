"""Tests of the task engine."""
