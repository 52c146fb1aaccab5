"""timer1 leaderboard: validated submissions, versioned scoring, a durable store, ranking, HTML and a web app.

Built on the core (``tvgbench``): the prediction reader, the scorer and the split I/O; it never
reimplements IoU or parsing.
"""
