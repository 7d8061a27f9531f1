"""What-if questions answered on a copy of the simulated cluster: `simulate` (the what-if
port the agent's tool calls), `load` (the same day at another load), `sizing` (fewest GPUs
that hold the SLO), `answer` (the typed answer) and `page` (its HTML page)."""
