"""Coding agents wired to the local endpoint: `localv4 launch AGENT`.

One module per agent says how that agent is pointed at an endpoint (environment variables,
command-line settings, or a config file of localv4's own: never the user's); `launch` starts
the endpoint when none runs and runs the agent.
"""
