"""Jinja2 templates of the leaderboard pages (a package so wheels ship them)."""
