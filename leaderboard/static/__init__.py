"""CSS and JS of the leaderboard pages (a package so wheels ship them)."""
