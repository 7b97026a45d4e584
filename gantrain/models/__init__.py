"""Generators and discriminators, one paper per file."""
