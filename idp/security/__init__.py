"""Security rules as plain functions: passwords, lockout, sessions, challenges."""
