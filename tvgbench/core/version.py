"""Versions that outputs record, on the bottom floor: anything may import this module, it imports nothing."""

# The scorer's version: stored with every score and leaderboard row, shown on data cards. Bump it when a
# score of the same file against the same split could change.
SCORER_VERSION = "1.0.0"
